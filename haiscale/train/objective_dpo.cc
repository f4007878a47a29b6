// File: haiscale/train/objective_dpo.cc
//
// DpoObjective: direct preference optimisation (Rafailov et al. 2023), the
// sigmoid loss of Hugging Face TRL's DPOTrainer (docs/post_training.md
// names the version compared against), on the rows of `hai data
// prepare-dpo` (data/post/rows_file.h: row 2i chosen, 2i + 1 rejected).
//
//   logp(y)  = sum of the completion tokens' log-probabilities (prompt
//              and padding targets are < 0, so -CE of the row)
//   Δ        = β [(logp_π(c) - logp_ref(c)) - (logp_π(r) - logp_ref(r))]
//   loss     = -(1 - ε) log σ(Δ) - ε log σ(-Δ), averaged over the pairs
//              of the global batch
//              + α × NLL (RPO, objective.dpo_rpo_alpha): the chosen rows'
//              cross-entropy summed over the global batch divided by their
//              completion tokens (TRL's nll_loss)
//
// The reference is the model's initial weights, frozen: before the first
// update every rank computes its share of the reference log-probabilities
// of the whole dataset with the initial parameters (one sequence per
// forward), the ranks exchange them, and rank 0 keeps them in
// <output_dir>/dpo_reference_logps.bin so that a resumed run uses the
// same values. A reference precomputed beside the rows (`hai data
// dpo-reference`, data/post/reference_file.h) replaces that pass when it
// was computed for these rows and for train.init_from's weights; any other
// is refused. Each step runs the pass with one pair (chosen, rejected) per
// micro-batch, each row's tokens weighted by its d(loss)/d(cross-entropy).
// A pair's weights come from its own forward, between that forward and its
// backward (PassInput::weigh_after_forward; under the pipeline on the last
// stage, which alone computes the loss): one forward per pair.
// Chosen and rejected of a pair are neighbouring rows of the same rank's
// slice (global batches of whole pairs per rank), the same step and the
// same micro-batch.
//
// Metrics (TRL's names): rewards/chosen and rewards/rejected (β x
// log-ratio), rewards/accuracies (chosen reward > rejected reward),
// rewards/margins, logps/chosen, logps/rejected — means over the pairs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/permutation.h"
#include "data/post/reference_file.h"
#include "data/post/rows_file.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "haiscale/train/objective.h"
#include "haiscale/train/objective_post.h"

namespace hs::train {
namespace {

using data::post::PostRows;

// log σ(x), stable for large |x|.
double LogSigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }
double Sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

}  // namespace

DpoPairTerms DpoTerms(double policy_chosen, double policy_rejected, double ref_chosen,
                      double ref_rejected, double beta, double label_smoothing) {
  DpoPairTerms t;
  t.reward_chosen = beta * (policy_chosen - ref_chosen);
  t.reward_rejected = beta * (policy_rejected - ref_rejected);
  const double delta = t.reward_chosen - t.reward_rejected;
  t.loss = -(1 - label_smoothing) * LogSigmoid(delta) - label_smoothing * LogSigmoid(-delta);
  const double dloss_ddelta = -(1 - label_smoothing) * Sigmoid(-delta) + label_smoothing * Sigmoid(delta);
  t.dloss_dchosen = beta * dloss_ddelta;
  t.dloss_drejected = -beta * dloss_ddelta;
  return t;
}

DpoRowScales DpoCeScales(const DpoPairTerms& t, int64_t pairs, double rpo_alpha,
                         int64_t chosen_tokens) {
  DpoRowScales s;
  s.chosen = -t.dloss_dchosen / double(pairs);
  s.rejected = -t.dloss_drejected / double(pairs);
  if (rpo_alpha > 0 && chosen_tokens > 0) s.chosen += rpo_alpha / double(chosen_tokens);
  return s;
}

namespace {

class DpoObjective final : public Objective {
 public:
  absl::StatusOr<MetricSums> ForwardBackward(int64_t step, ModelRunner& runner) override {
    if (ref_logps_.empty()) HS_RETURN_IF_ERROR(LoadOrComputeReference(step, runner));
    const int64_t P = layout_.global_batch / 2;
    std::vector<int64_t> pair_of(P);
    for (int64_t j = 0; j < P; ++j) {
      pair_of[j] = PairOf(step * P + j);
      CopyPair(rows_, pair_of[j], j);
    }
    const int64_t first = layout_.local_first, n = layout_.local_count;
    chosen_tokens_ = ChosenTokens(P);
    const int64_t S = layout_.seq_len;
    MetricSums sums;
    // Pair i/2's rows (i, i + 1) of this rank: its terms from the policy's
    // summed cross-entropy, its metrics, and its rows' token weights (each
    // row's d(loss)/d(cross-entropy)).
    auto weigh_pair = [&](int64_t i, double ce_chosen, double ce_rejected, float* w) {
      const int64_t pair = pair_of[(first + i) / 2];
      const DpoPairTerms t = Terms(ce_chosen, ce_rejected, ref_logps_, pair);
      const DpoRowScales s = DpoCeScales(t, P, rpo_alpha_, chosen_tokens_);
      std::fill_n(w, S, float(s.chosen));
      std::fill_n(w + S, S, float(s.rejected));
      AddPairSums(t, ce_chosen, ce_rejected, holds_loss_ ? 1.0 : 0.0, &sums);
    };
    // The pass: one pair per micro-batch, each row's tokens weighted by that
    // row's d(loss)/d(cross-entropy).
    PassInput pass = PairPass(first, n);
    pass.ce_scale = 1.0f;
    // The weights of a pair from its own forward, between that forward and
    // its backward (one forward per pair; pipeline: on the last stage).
    pass.weigh_after_forward = [&](int64_t m, const std::vector<double>& row_ce, float* w) {
      if (row_ce.size() != 2) {
        return absl::InternalError(absl::StrCat("DPO: a micro-batch of ", row_ce.size(),
                                                " sequences instead of a pair"));
      }
      weigh_pair(2 * m, row_ce[0], row_ce[1], w);
      return absl::OkStatus();
    };
    HS_ASSIGN_OR_RETURN(PassResult r, runner.ForwardBackward(pass));
    if (!holds_loss_) {
      // Pipeline stages before the last: the same names, all zero.
      for (int64_t i = 0; i < n; i += 2) AddPairSums(DpoPairTerms{}, 0, 0, 0.0, &sums);
    }
    sums.Add("bubble", r.bubble);  // the pipeline's (the trainer reports it)
    return sums;
  }

  void Report(const MetricSums& job, StepMetrics* m) const override {
    m->loss = MetricsOf(job, double(layout_.global_batch / 2), chosen_tokens_, &m->objective);
  }

  bool has_eval() const override { return !eval_.tokens.empty(); }

  // The held-out pairs in global batches of pairs as in training (a short
  // last batch is filled with pairs that count for nothing): the mean DPO
  // loss (plus the RPO term) and every training metric.
  absl::StatusOr<EvalResult> Evaluate(ModelRunner& runner) override {
    if (eval_.tokens.empty()) return absl::FailedPreconditionError("Evaluate: no eval pairs");
    if (eval_ref_logps_.empty()) {
      return absl::FailedPreconditionError("Evaluate: the reference log-probabilities of "
                                           "data.eval_path are not computed yet (train a step)");
    }
    const int64_t P = layout_.global_batch / 2, pairs = eval_.num_rows() / 2;
    const int64_t first = layout_.local_first, n = layout_.local_count;
    MetricSums sums;
    int64_t chosen_tokens = 0, tokens = 0;
    for (int64_t base = 0; base < pairs; base += P) {
      for (int64_t j = 0; j < P; ++j) CopyPair(eval_, std::min(base + j, pairs - 1), j);
      const int64_t valid = std::min(P, pairs - base);
      chosen_tokens += ChosenTokens(valid);
      tokens += CountTargets(0, 2 * valid);
      HS_ASSIGN_OR_RETURN(std::vector<double> ce, runner.ForwardRows(PairPass(first, n)));
      MetricSums part;
      for (int64_t i = 0; i < n; i += 2) {
        const int64_t j = (first + i) / 2;
        const int64_t pair = std::min(base + j, pairs - 1);
        const DpoPairTerms t = Terms(ce[i], ce[i + 1], eval_ref_logps_, pair);
        AddPairSums(t, ce[i], ce[i + 1], holds_loss_ && j < valid ? 1.0 : 0.0, &part);
      }
      if (base == 0) {
        sums = part;
      } else {
        for (int k = 0; k < sums.size(); ++k) sums.values()[k] += part.values()[k];
      }
    }
    HS_RETURN_IF_ERROR(ctx_->SumOverWorld(sums.values(), sums.size()));
    EvalResult r;
    r.loss = MetricsOf(sums, double(pairs), chosen_tokens, &r.metrics);
    r.tokens = tokens;
    r.perplexity = false;
    return r;
  }

  // The pair's terms from its rows' cross-entropies and stored reference.
  DpoPairTerms Terms(double ce_chosen, double ce_rejected, const std::vector<double>& ref,
                     int64_t pair) const {
    return DpoTerms(-ce_chosen, -ce_rejected, ref[2 * pair], ref[2 * pair + 1], beta_,
                    label_smoothing_);
  }

  // One pair's metric sums, times `weight` (0 on ranks that do not hold
  // the loss, and for filler pairs): every rank adds the same names.
  void AddPairSums(const DpoPairTerms& t, double ce_chosen, double ce_rejected, double weight,
                   MetricSums* sums) const {
    sums->Add("loss", weight * t.loss);
    if (rpo_alpha_ > 0) sums->Add("chosen_ce", weight * ce_chosen);
    sums->Add("rewards/chosen", weight * t.reward_chosen);
    sums->Add("rewards/rejected", weight * t.reward_rejected);
    sums->Add("rewards/accuracies", t.reward_chosen > t.reward_rejected ? weight : 0.0);
    sums->Add("rewards/margins", weight * (t.reward_chosen - t.reward_rejected));
    sums->Add("logps/chosen", -weight * ce_chosen);
    sums->Add("logps/rejected", -weight * ce_rejected);
  }

  // The loss (mean over `pairs`, plus α × NLL) and the named metrics from
  // job-wide sums.
  double MetricsOf(const MetricSums& job, double pairs, int64_t chosen_tokens,
                   std::vector<std::pair<std::string, double>>* out) const {
    for (const char* name : {"rewards/chosen", "rewards/rejected", "rewards/accuracies",
                             "rewards/margins", "logps/chosen", "logps/rejected"}) {
      out->push_back({name, job.Get(name) / pairs});
    }
    double loss = job.Get("loss") / pairs;
    if (rpo_alpha_ > 0) {
      const double nll = chosen_tokens > 0 ? job.Get("chosen_ce") / double(chosen_tokens) : 0;
      loss += rpo_alpha_ * nll;
      out->push_back({"nll_loss", nll});
    }
    return loss;
  }

  int64_t PairOf(int64_t i) const {
    const int64_t n = rows_.num_rows() / 2;
    const int64_t epoch = i / n, within = i % n;
    if (!shuffle_) return within;
    data::KeyedPermutation perm(uint64_t(n), seed_, uint64_t(epoch));
    return int64_t(perm(uint64_t(within)));
  }

  // Pair `pair` of `from` into batch slots 2 slot (chosen), 2 slot + 1.
  void CopyPair(const PostRows& from, int64_t pair, int64_t slot) {
    const int64_t S = layout_.seq_len;
    for (int64_t k = 0; k < 2; ++k) {
      const int64_t row = 2 * pair + k, to = (2 * slot + k) * S;
      std::copy_n(from.tokens.begin() + row * S, S, tokens_.begin() + to);
      std::copy_n(from.targets.begin() + row * S, S, targets_.begin() + to);
      std::copy_n(from.positions.begin() + row * S, S, positions_.begin() + to);
    }
  }

  // Trained targets of batch rows [first, end).
  int64_t CountTargets(int64_t first, int64_t end) const {
    int64_t n = 0;
    for (int64_t i = first * layout_.seq_len; i < end * layout_.seq_len; ++i) n += targets_[i] >= 0;
    return n;
  }

  // RPO: the completion tokens of the first `pairs` chosen rows of the batch.
  int64_t ChosenTokens(int64_t pairs) const {
    int64_t n = 0;
    for (int64_t j = 0; j < pairs; ++j) n += CountTargets(2 * j, 2 * j + 1);
    return n;
  }

  // Rows [first, first + count) of the batch buffers, one per micro-batch.
  // Rows [first, first + count) of the staged batch, one pair (chosen,
  // rejected) per micro-batch: the shape of every DPO pass, so a row's
  // cross-entropy has the same bits in the reference, training and
  // evaluation passes while the weights are equal.
  PassInput PairPass(int64_t first, int64_t count) const {
    const int64_t off = first * layout_.seq_len;
    PassInput p;
    p.tokens = tokens_.data() + off;
    p.targets = targets_.data() + off;
    p.positions = positions_.data() + off;
    p.micro_batches = count / 2;
    p.micro_batch = 2;
    p.seq_len = layout_.seq_len;
    return p;
  }

  std::string ReferencePath() const { return output_dir_ + "/dpo_reference_logps.bin"; }
  std::string EvalReferencePath() const { return output_dir_ + "/dpo_eval_reference_logps.bin"; }

  // The reference log-probabilities of the training (and held-out) rows:
  // computed with the initial weights on a fresh run (step 0), read back on
  // a resumed one.
  absl::Status LoadOrComputeReference(int64_t step, ModelRunner& runner) {
    HS_ASSIGN_OR_RETURN(ref_logps_, LoadOrComputeRowLogps(step, runner, rows_, ReferencePath()));
    if (!eval_.tokens.empty()) {
      HS_ASSIGN_OR_RETURN(eval_ref_logps_,
                          LoadOrComputeRowLogps(step, runner, eval_, EvalReferencePath()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<double>> LoadOrComputeRowLogps(int64_t step, ModelRunner& runner,
                                                           const PostRows& rows,
                                                           const std::string& path) {
    // Precomputed beside the rows (checked against the run when opened).
    if (&rows == &rows_ && !precomputed_.empty()) return precomputed_;
    if (&rows == &eval_ && !eval_precomputed_.empty()) return eval_precomputed_;
    const int64_t R = rows.num_rows();
    std::vector<double> logps(R, 0.0);
    if (step > 0) {
      auto bytes = io::ReadFileToString(path);
      if (!bytes.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "resuming DPO at step ", step + 1, " needs the reference log-probabilities of the "
            "initial weights: ", bytes.status().message()));
      }
      if (int64_t(bytes->size()) != R * int64_t(sizeof(double))) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", bytes->size(), " bytes, expected ", R, " doubles"));
      }
      std::memcpy(logps.data(), bytes->data(), bytes->size());
      return logps;
    }
    HS_ASSIGN_OR_RETURN(logps, RowLogps(runner, rows));
    if (ctx_->is_logger() && write_reference_) {
      HS_RETURN_IF_ERROR(io::CreateDirectories(output_dir_));
      HS_RETURN_IF_ERROR(io::WriteFileAtomically(
          path, std::string(reinterpret_cast<const char*>(logps.data()),
                            logps.size() * sizeof(double))));
    }
    return logps;
  }

  // Every row's log-probability under the runner's current weights, on
  // every rank: data-parallel rank d computes pairs k dp + d, in passes of
  // local_count / 2 pairs shaped as the training passes (PairPass); every
  // rank runs the same number of passes (expert-parallel all-to-alls stay
  // matched), and only the ranks that hold the loss contribute to the sum.
  absl::StatusOr<std::vector<double>> RowLogps(ModelRunner& runner, const PostRows& rows) {
    const int64_t R = rows.num_rows(), S = layout_.seq_len, P = R / 2;
    if (R % 2 != 0) {
      return absl::InternalError(absl::StrCat("DPO: ", R, " rows are not whole pairs"));
    }
    const int64_t dp = ctx_->dp_size(), d = ctx_->dp_rank();
    const int64_t pairs = std::max<int64_t>(1, layout_.local_count / 2);
    std::vector<double> logps(R, 0.0);
    std::vector<int32_t> tok(2 * pairs * S), tgt(2 * pairs * S), pos(2 * pairs * S);
    for (int64_t k0 = 0; k0 * dp < P; k0 += pairs) {
      for (int64_t j = 0; j < pairs; ++j) {
        const int64_t pair = std::min((k0 + j) * dp + d, P - 1);
        std::copy_n(rows.tokens.begin() + 2 * pair * S, 2 * S, tok.begin() + 2 * j * S);
        std::copy_n(rows.targets.begin() + 2 * pair * S, 2 * S, tgt.begin() + 2 * j * S);
        std::copy_n(rows.positions.begin() + 2 * pair * S, 2 * S, pos.begin() + 2 * j * S);
      }
      PassInput p;
      p.tokens = tok.data();
      p.targets = tgt.data();
      p.positions = pos.data();
      p.micro_batches = pairs;
      p.micro_batch = 2;
      p.seq_len = S;
      HS_ASSIGN_OR_RETURN(std::vector<double> ce, runner.ForwardRows(p));
      for (int64_t j = 0; j < pairs; ++j) {
        const int64_t pair = (k0 + j) * dp + d;
        if (pair >= P || !holds_loss_) continue;
        logps[2 * pair] = -ce[2 * j];
        logps[2 * pair + 1] = -ce[2 * j + 1];
      }
    }
    HS_RETURN_IF_ERROR(ctx_->SumOverWorld(logps.data(), int(R)));
    return logps;
  }

  BatchLayout layout_;
  const parallel::ParallelContext* ctx_ = nullptr;
  bool holds_loss_ = true;  // the last pipeline stage (every rank without a pipeline)
  PostRows rows_, eval_;
  bool shuffle_ = false;
  uint64_t seed_ = 0;
  double beta_ = 0.1, label_smoothing_ = 0, rpo_alpha_ = 0;
  int64_t chosen_tokens_ = 0;  // chosen completion tokens of the last global batch
  std::string output_dir_;
  bool write_reference_ = true;
  std::vector<double> ref_logps_;       // per row, from the initial weights
  std::vector<double> eval_ref_logps_;  // per held-out row
  // From `hai data dpo-reference` (DIR/dpo_reference.bin), when present.
  std::vector<double> precomputed_, eval_precomputed_;
  std::vector<int32_t> tokens_, targets_, positions_;  // [global_batch, seq_len]
};

// The reference log-probabilities stored beside the rows by `hai data
// dpo-reference`, or none: usable only when computed for these very rows
// and for the weights the run starts from (train.init_from); anything else
// is refused rather than silently recomputed or used.
absl::StatusOr<std::vector<double>> PrecomputedReference(const config::RunConfig& config,
                                                         const char* field,
                                                         const std::string& dir,
                                                         const PostRows& rows) {
  absl::StatusOr<std::optional<data::post::RowsReference>> read =
      data::post::ReadRowsReference(dir);
  if (!read.ok()) return Annotate(read.status(), field);
  if (!read->has_value()) return std::vector<double>();
  const data::post::RowsReference& ref = **read;
  const std::string file = absl::StrCat(dir, "/", data::post::kReferenceFileName);
  const std::string fix = absl::StrCat("rerun hai data dpo-reference --data ", dir,
                                       " --weights <the run's train.init_from>, or delete ", file,
                                       " to compute the reference in the run");
  if (int64_t(ref.logps.size()) != rows.num_rows() || ref.rows_crc != data::post::RowsCrc(rows)) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, ": ", file, " was computed for other rows than ", dir,
        " holds now (prepared again since?): ", fix));
  }
  const std::string& init = config.train().init_from();
  const std::string computed = absl::StrCat(
      file, " holds the reference log-probabilities of the weights in ", ref.weights_dir, " (",
      data::post::FormatIdentity(ref.weights), ")");
  if (init.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, ": ", computed, ", but the run starts from random weights (train.init_from is "
        "empty): set train.init_from, or delete the file to compute the reference in the run"));
  }
  absl::StatusOr<data::post::WeightsIdentity> id = data::post::IdentifyWeights(init);
  if (!id.ok()) return Annotate(id.status(), "train.init_from");
  if (!(*id == ref.weights)) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, ": ", computed, ", but train.init_from ", init, " holds other weights (",
        data::post::FormatIdentity(*id), "): ", fix));
  }
  return ref.logps;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Objective>> MakeDpoObjective(const config::RunConfig& config,
                                                            const BatchLayout& layout,
                                                            const parallel::ParallelContext* ctx) {
  auto o = std::make_unique<DpoObjective>();
  o->layout_ = layout;
  o->ctx_ = ctx;
  o->shuffle_ = config.data().shuffle();
  o->seed_ = uint64_t(config.train().seed());
  o->beta_ = config.objective().dpo_beta();
  o->label_smoothing_ = config.objective().dpo_label_smoothing();
  o->rpo_alpha_ = config.objective().dpo_rpo_alpha();
  o->output_dir_ = config.train().output_dir();
  o->holds_loss_ = ctx->stage() == ctx->pp_size() - 1;
  if (layout.local_count % 2 != 0 || layout.local_first % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train.global_batch_size: objective.type DPO needs whole (chosen, rejected) pairs on "
        "every data-parallel rank: a multiple of 2 x ", ctx->dp_size(), ", got ",
        layout.global_batch));
  }
  if (layout.local_count < 2 * ctx->pp_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train.global_batch_size: objective.type DPO trains one pair per micro-batch, and ",
        ctx->pp_size(), " pipeline stages need at least ", ctx->pp_size(),
        " pairs per data-parallel rank: at least ", 2 * ctx->pp_size() * ctx->dp_size(),
        " sequences, got ", layout.global_batch));
  }
  const int64_t vocab = config.model().vocab_size();
  HS_ASSIGN_OR_RETURN(o->rows_, OpenPostRows(config.data().train_path(), "data.train_path",
                                             data::post::RowsKind::kDpo, layout.seq_len, vocab));
  HS_ASSIGN_OR_RETURN(o->precomputed_, PrecomputedReference(config, "data.train_path",
                                                            config.data().train_path(), o->rows_));
  if (config.train().eval_every() > 0) {
    HS_ASSIGN_OR_RETURN(o->eval_, OpenPostRows(config.data().eval_path(), "data.eval_path",
                                               data::post::RowsKind::kDpo, layout.seq_len, vocab));
    HS_ASSIGN_OR_RETURN(o->eval_precomputed_,
                        PrecomputedReference(config, "data.eval_path", config.data().eval_path(),
                                             o->eval_));
  }
  const size_t n = size_t(layout.global_batch * layout.seq_len);
  o->tokens_.resize(n);
  o->targets_.resize(n);
  o->positions_.resize(n);
  o->AddHeaderNote(absl::StrFormat(
      "DPO data: %d pairs from %s (beta %g, label smoothing %g, rpo alpha %g); reference "
      "log-probabilities %s",
      o->rows_.num_rows() / 2, config.data().train_path(), o->beta_, o->label_smoothing_,
      o->rpo_alpha_,
      o->precomputed_.empty() ? "computed in the run" : "precomputed (hai data dpo-reference)"));
  return std::unique_ptr<Objective>(std::move(o));
}

}  // namespace hs::train
