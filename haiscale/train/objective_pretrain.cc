// File: haiscale/train/objective_pretrain.cc
//
// PretrainObjective: next-token cross-entropy over the packed sequences of
// data.train_path (plus the MoE balance loss), normalised by the target
// tokens of the whole global batch, so that gradients summed over the
// data-parallel ranks are exactly the single-process gradients; held-out
// evaluation on data.eval_path. See objective.h.
#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/train_data.h"
#include "haiscale/status.h"
#include "haiscale/train/objective.h"
#include "haiscale/train/objective_grpo.h"
#include "haiscale/train/objective_post.h"

namespace hs::train {

void MetricSums::Add(const std::string& name, double value) {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) {
      values_[i] += value;
      return;
    }
  }
  names_.push_back(name);
  values_.push_back(value);
}

double MetricSums::Get(const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return values_[i];
  }
  return 0;
}

namespace {

std::string ExpertLoadName(int64_t e) { return absl::StrCat("expert_load.", e); }

class PretrainObjective final : public Objective {
 public:
  absl::StatusOr<MetricSums> ForwardBackward(int64_t step, ModelRunner& runner) override {
    // The whole global batch is read on every rank (cheap): its target
    // count normalises the loss, so summed gradients equal the
    // single-process ones.
    HS_RETURN_IF_ERROR(sampler_->FillBatch(step, 0, layout_.global_batch, inputs_.data(),
                                           targets_.data(), Positions(positions_)));
    valid_ = CountTargets(targets_);
    if (valid_ == 0) return absl::InvalidArgumentError(absl::StrCat("step ", step + 1, ": no targets"));
    HS_ASSIGN_OR_RETURN(PassResult r,
                        runner.ForwardBackward(LocalPass(inputs_, targets_, positions_, true)));
    MetricSums sums;
    sums.Add("ce_sum", r.ce_sum);
    sums.Add("aux_loss", r.aux_loss);
    sums.Add("bubble", r.bubble);
    for (int64_t e = 0; e < experts_; ++e) {
      sums.Add(ExpertLoadName(e), e < int64_t(r.expert_load.size()) ? double(r.expert_load[e]) : 0);
    }
    return sums;
  }

  void Report(const MetricSums& job, StepMetrics* m) const override {
    m->loss = job.Get("ce_sum") / valid_;
    m->aux_loss = job.Get("aux_loss");
    if (experts_ > 0) {
      double sum = 0, mx = 0;
      for (int64_t e = 0; e < experts_; ++e) {
        const double load = job.Get(ExpertLoadName(e));
        sum += load;
        mx = std::max(mx, load);
      }
      m->max_expert_load = sum > 0 ? mx / (sum / experts_) : 0;
    }
  }

  bool has_eval() const override { return eval_rows_ != nullptr; }

  absl::StatusOr<EvalResult> Evaluate(ModelRunner& runner) override {
    if (!eval_rows_) return absl::FailedPreconditionError("Evaluate: train.eval_every is 0");
    const int64_t G = layout_.global_batch;
    std::vector<int32_t> in(G * layout_.seq_len), tg(G * layout_.seq_len);
    std::vector<int32_t> pos(eval_document_mask_ ? G * layout_.seq_len : 0);
    double ce = 0;
    int64_t tokens = 0;
    // Batches of G rows split over the DP ranks exactly as training batches
    // (every rank runs the same number of micro-batches, so the EP
    // all-to-alls and pipeline transfers stay matched). A short last batch
    // is padded with ignored targets.
    for (int64_t first = 0; first < eval_rows_->num_rows(); first += G) {
      const int64_t n = std::min(G, eval_rows_->num_rows() - first);
      std::fill(in.begin(), in.end(), 0);
      std::fill(tg.begin(), tg.end(), -1);
      std::fill(pos.begin(), pos.end(), 0);
      HS_RETURN_IF_ERROR(eval_rows_->FillRows(first, n, in.data(), tg.data(), Positions(pos)));
      const int64_t valid = CountTargets(tg);
      if (valid == 0) continue;  // the same on every rank
      tokens += valid;
      PassInput pass = LocalPass(in, tg, pos, false);
      pass.ce_scale = 1.0f / float(valid);
      HS_ASSIGN_OR_RETURN(double part, runner.Forward(pass));
      ce += part;
    }
    HS_RETURN_IF_ERROR(ctx_->SumOverWorld(&ce, 1));
    return EvalResult{tokens > 0 ? ce / double(tokens) : 0.0, tokens};
  }

  static int64_t CountTargets(const std::vector<int32_t>& targets) {
    int64_t valid = 0;
    for (int32_t t : targets) valid += t >= 0;
    return valid;
  }

  // Positions(pos): the packed-document positions buffer, or nullptr
  // without data.document_mask (empty).
  static int32_t* Positions(std::vector<int32_t>& pos) {
    return pos.empty() ? nullptr : pos.data();
  }

  // This rank's slice of a global batch, scaled for training.
  PassInput LocalPass(const std::vector<int32_t>& in, const std::vector<int32_t>& tg,
                      const std::vector<int32_t>& pos, bool train) const {
    PassInput p;
    p.tokens = in.data() + layout_.local_first * layout_.seq_len;
    p.targets = tg.data() + layout_.local_first * layout_.seq_len;
    if (!pos.empty()) p.positions = pos.data() + layout_.local_first * layout_.seq_len;
    p.micro_batches = layout_.micro_batches;
    p.micro_batch = layout_.micro_batch;
    p.seq_len = layout_.seq_len;
    if (train) {
      p.ce_scale = 1.0f / float(valid_);
      p.aux_scale = float(layout_.micro_batch) / float(layout_.global_batch);
    }
    return p;
  }

  BatchLayout layout_;
  const parallel::ParallelContext* ctx_ = nullptr;
  int64_t experts_ = 0;
  std::vector<std::unique_ptr<data::TokenFile>> data_files_;  // train sources
  std::unique_ptr<data::Sampler> sampler_;
  std::unique_ptr<data::TokenFile> eval_file_;
  std::unique_ptr<data::EvalRows> eval_rows_;
  bool eval_document_mask_ = false;
  std::vector<int32_t> inputs_, targets_;  // [global_batch, seq_len]
  std::vector<int32_t> positions_;         // same, with data.document_mask
  int64_t valid_ = 0;                      // target tokens of the last global batch
};

}  // namespace

absl::StatusOr<std::unique_ptr<Objective>> MakeObjective(const config::RunConfig& config,
                                                         const BatchLayout& layout,
                                                         const parallel::ParallelContext* ctx) {
  switch (config.objective().type()) {
    case config::ObjectiveConfig::SFT:
      return MakeSftObjective(config, layout, ctx);
    case config::ObjectiveConfig::DPO:
      return MakeDpoObjective(config, layout, ctx);
    case config::ObjectiveConfig::GRPO:
      return MakeGrpoObjective(config, ctx);
    default:
      break;
  }
  auto o = std::make_unique<PretrainObjective>();
  o->layout_ = layout;
  o->ctx_ = ctx;
  o->experts_ = config.model().n_routed_experts();
  const int64_t vocab = config.model().vocab_size();
  // data.train_path or data.mixture (flat files or prepared datasets),
  // data.eval_path, data.document_mask: data/train_data.h.
  HS_ASSIGN_OR_RETURN(data::TrainData train,
                      data::OpenTrainData(config.data(), layout.seq_len, layout.global_batch,
                                          config.train().seed(), vocab));
  // With the run's header (the realised mixture is part of what a run
  // trained on).
  o->AddHeaderNote(train.summary);
  if (train.sampler->num_sources() > 1) {
    std::vector<std::string> names;
    for (const auto& m : config.data().mixture()) names.push_back(m.path());
    // The realised proportions over (up to a million samples of) the run.
    const int64_t steps = std::clamp<int64_t>(1000000 / layout.global_batch, 1,
                                              config.train().steps());
    o->AddHeaderNote(data::RealisedMixture(*train.sampler, names, steps));
  }
  o->data_files_ = std::move(train.files);
  o->sampler_ = std::move(train.sampler);
  o->inputs_.resize(layout.global_batch * layout.seq_len);
  o->targets_.resize(layout.global_batch * layout.seq_len);
  if (train.document_mask) o->positions_.resize(layout.global_batch * layout.seq_len);
  if (config.train().eval_every() > 0) {
    // Validated: data.eval_path is set.
    HS_ASSIGN_OR_RETURN(data::EvalData eval,
                        data::OpenEvalData(config.data(), layout.seq_len,
                                           config.train().eval_batches() * layout.global_batch,
                                           vocab));
    o->eval_file_ = std::move(eval.file);
    o->eval_rows_ = std::move(eval.rows);
    o->eval_document_mask_ = eval.document_mask;
  }
  return std::unique_ptr<Objective>(std::move(o));
}

}  // namespace hs::train
