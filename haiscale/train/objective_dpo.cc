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
// same values. Each step then runs one forward per local sequence for the
// policy log-probabilities, computes every pair's dL/dlogp, and runs the
// pass with one sequence per micro-batch, weighted by its
// d(loss)/d(cross-entropy) (PassInput::ce_scales). Chosen and rejected of a
// pair are neighbouring rows of the same rank's slice (global batches of
// whole pairs per rank) and of the same step.
//
// Metrics (TRL's names): rewards/chosen and rewards/rejected (β x
// log-ratio), rewards/accuracies (chosen reward > rejected reward),
// rewards/margins, logps/chosen, logps/rejected — means over the pairs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/permutation.h"
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
    const int64_t G = layout_.global_batch, P = G / 2;
    std::vector<int64_t> pair_of(P);
    for (int64_t j = 0; j < P; ++j) {
      pair_of[j] = PairOf(step * P + j);
      CopyRow(2 * pair_of[j], 2 * j);
      CopyRow(2 * pair_of[j] + 1, 2 * j + 1);
    }
    // Policy log-probabilities of this rank's sequences.
    const int64_t first = layout_.local_first, n = layout_.local_count;
    std::vector<double> logp(n);
    for (int64_t i = 0; i < n; ++i) {
      HS_ASSIGN_OR_RETURN(double ce, runner.Forward(OneRowPass(first + i, 1)));
      logp[i] = -ce;
    }
    // RPO: the chosen completion tokens of the whole global batch.
    chosen_tokens_ = 0;
    for (int64_t j = 0; j < P; ++j) {
      const int32_t* t = targets_.data() + 2 * j * layout_.seq_len;
      for (int64_t k = 0; k < layout_.seq_len; ++k) chosen_tokens_ += t[k] >= 0;
    }
    std::vector<float> scales(n);
    MetricSums sums;
    for (int64_t i = 0; i < n; i += 2) {
      const int64_t pair = pair_of[(first + i) / 2];
      const DpoPairTerms t = DpoTerms(logp[i], logp[i + 1], ref_logps_[2 * pair],
                                      ref_logps_[2 * pair + 1], beta_, label_smoothing_);
      const DpoRowScales s = DpoCeScales(t, P, rpo_alpha_, chosen_tokens_);
      scales[i] = float(s.chosen);
      scales[i + 1] = float(s.rejected);
      sums.Add("loss", t.loss);
      if (rpo_alpha_ > 0) sums.Add("chosen_ce", -logp[i]);
      sums.Add("rewards/chosen", t.reward_chosen);
      sums.Add("rewards/rejected", t.reward_rejected);
      sums.Add("rewards/accuracies", t.reward_chosen > t.reward_rejected ? 1.0 : 0.0);
      sums.Add("rewards/margins", t.reward_chosen - t.reward_rejected);
      sums.Add("logps/chosen", logp[i]);
      sums.Add("logps/rejected", logp[i + 1]);
    }
    PassInput pass = OneRowPass(first, n);
    pass.ce_scales = scales.data();
    HS_RETURN_IF_ERROR(runner.ForwardBackward(pass).status());
    return sums;
  }

  void Report(const MetricSums& job, StepMetrics* m) const override {
    const double P = double(layout_.global_batch / 2);
    m->loss = job.Get("loss") / P;
    for (const char* name : {"rewards/chosen", "rewards/rejected", "rewards/accuracies",
                             "rewards/margins", "logps/chosen", "logps/rejected"}) {
      m->objective.push_back({name, job.Get(name) / P});
    }
    if (rpo_alpha_ > 0) {
      const double nll = chosen_tokens_ > 0 ? job.Get("chosen_ce") / double(chosen_tokens_) : 0;
      m->loss += rpo_alpha_ * nll;
      m->objective.push_back({"nll_loss", nll});
    }
  }

  bool has_eval() const override { return false; }
  absl::StatusOr<EvalResult> Evaluate(ModelRunner&) override {
    return absl::UnimplementedError("objective.type DPO has no held-out evaluation");
  }

  int64_t PairOf(int64_t i) const {
    const int64_t n = rows_.num_rows() / 2;
    const int64_t epoch = i / n, within = i % n;
    if (!shuffle_) return within;
    data::KeyedPermutation perm(uint64_t(n), seed_, uint64_t(epoch));
    return int64_t(perm(uint64_t(within)));
  }

  void CopyRow(int64_t row, int64_t slot) {
    const int64_t S = layout_.seq_len;
    std::copy_n(rows_.tokens.begin() + row * S, S, tokens_.begin() + slot * S);
    std::copy_n(rows_.targets.begin() + row * S, S, targets_.begin() + slot * S);
    std::copy_n(rows_.positions.begin() + row * S, S, positions_.begin() + slot * S);
  }

  // Rows [first, first + count) of the batch buffers, one per micro-batch.
  PassInput OneRowPass(int64_t first, int64_t count) const {
    const int64_t off = first * layout_.seq_len;
    PassInput p;
    p.tokens = tokens_.data() + off;
    p.targets = targets_.data() + off;
    p.positions = positions_.data() + off;
    p.micro_batches = count;
    p.micro_batch = 1;
    p.seq_len = layout_.seq_len;
    return p;
  }

  std::string ReferencePath() const { return output_dir_ + "/dpo_reference_logps.bin"; }

  // The reference log-probabilities: computed with the initial weights on a
  // fresh run (step 0), read back on a resumed one.
  absl::Status LoadOrComputeReference(int64_t step, ModelRunner& runner) {
    const int64_t R = rows_.num_rows();
    if (step > 0) {
      auto bytes = io::ReadFileToString(ReferencePath());
      if (!bytes.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "resuming DPO at step ", step + 1, " needs the reference log-probabilities of the "
            "initial weights: ", bytes.status().message()));
      }
      if (int64_t(bytes->size()) != R * int64_t(sizeof(double))) {
        return absl::InvalidArgumentError(absl::StrCat(ReferencePath(), ": ", bytes->size(),
                                                       " bytes, expected ", R, " doubles"));
      }
      ref_logps_.resize(R);
      std::memcpy(ref_logps_.data(), bytes->data(), bytes->size());
      return absl::OkStatus();
    }
    // Rows k * dp + d on data-parallel rank d; every rank runs the same
    // number of forwards (expert-parallel all-to-alls stay matched).
    const int64_t dp = ctx_->dp_size(), d = ctx_->dp_rank();
    std::vector<double> logps(R, 0.0);
    const int64_t S = layout_.seq_len;
    std::vector<int32_t> tok(S), tgt(S), pos(S);
    for (int64_t k = 0; k * dp < R; ++k) {
      const int64_t row = std::min(k * dp + d, R - 1);
      std::copy_n(rows_.tokens.begin() + row * S, S, tok.begin());
      std::copy_n(rows_.targets.begin() + row * S, S, tgt.begin());
      std::copy_n(rows_.positions.begin() + row * S, S, pos.begin());
      PassInput p;
      p.tokens = tok.data();
      p.targets = tgt.data();
      p.positions = pos.data();
      p.micro_batches = 1;
      p.micro_batch = 1;
      p.seq_len = S;
      HS_ASSIGN_OR_RETURN(double ce, runner.Forward(p));
      if (k * dp + d < R) logps[row] = -ce;
    }
    // Only the data-parallel replicas hold different rows: sum over the
    // world, divided by the ranks per replica (pipeline stages, 1 here).
    HS_RETURN_IF_ERROR(ctx_->SumOverWorld(logps.data(), int(R)));
    const double per_replica = double(ctx_->world_size() / dp);
    for (double& v : logps) v /= per_replica;
    ref_logps_ = std::move(logps);
    if (ctx_->is_logger() && write_reference_) {
      HS_RETURN_IF_ERROR(io::CreateDirectories(output_dir_));
      HS_RETURN_IF_ERROR(io::WriteFileAtomically(
          ReferencePath(), std::string(reinterpret_cast<const char*>(ref_logps_.data()),
                                       ref_logps_.size() * sizeof(double))));
    }
    return absl::OkStatus();
  }

  BatchLayout layout_;
  const parallel::ParallelContext* ctx_ = nullptr;
  PostRows rows_;
  bool shuffle_ = false;
  uint64_t seed_ = 0;
  double beta_ = 0.1, label_smoothing_ = 0, rpo_alpha_ = 0;
  int64_t chosen_tokens_ = 0;  // chosen completion tokens of the last global batch
  std::string output_dir_;
  bool write_reference_ = true;
  std::vector<double> ref_logps_;  // per row, from the initial weights
  std::vector<int32_t> tokens_, targets_, positions_;  // [global_batch, seq_len]
};

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
  if (layout.local_count % 2 != 0 || layout.local_first % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train.global_batch_size: objective.type DPO needs whole (chosen, rejected) pairs on "
        "every data-parallel rank: a multiple of 2 x ", ctx->dp_size(), ", got ",
        layout.global_batch));
  }
  HS_ASSIGN_OR_RETURN(o->rows_, OpenPostRows(config.data().train_path(), "data.train_path",
                                             data::post::RowsKind::kDpo, layout.seq_len,
                                             config.model().vocab_size()));
  const size_t n = size_t(layout.global_batch * layout.seq_len);
  o->tokens_.resize(n);
  o->targets_.resize(n);
  o->positions_.resize(n);
  o->AddHeaderNote(absl::StrFormat(
      "DPO data: %d pairs from %s (beta %g, label smoothing %g, rpo alpha %g)",
      o->rows_.num_rows() / 2, config.data().train_path(), o->beta_, o->label_smoothing_,
      o->rpo_alpha_));
  return std::unique_ptr<Objective>(std::move(o));
}

}  // namespace hs::train
