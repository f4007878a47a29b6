// File: haiscale/train/model_runner.cc — see model_runner.h.
#include "haiscale/train/model_runner.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"

namespace hs::train {
namespace {

void AddLoad(const std::vector<int64_t>& load, std::vector<int64_t>* sum) {
  if (sum->size() < load.size()) sum->resize(load.size(), 0);
  for (size_t e = 0; e < load.size(); ++e) (*sum)[e] += load[e];
}

const int32_t* MicroBatch(const int32_t* ids, const PassInput& in, int64_t m) {
  return ids == nullptr ? nullptr : ids + m * in.micro_batch * in.seq_len;
}

// Runners without a positions path refuse packed documents (validation
// already rejects those layouts; this keeps a wrong call from being silent).
absl::Status NoPositions(const PassInput& in, const char* runner) {
  if (in.positions == nullptr) return absl::OkStatus();
  return absl::UnimplementedError(
      absl::StrCat("data.document_mask is not supported by the ", runner, " path"));
}

// Per-token loss weights reach the CPU model and the pipeline only.
absl::Status NoTokenWeights(const PassInput& in, const char* runner) {
  if (!in.weigh_after_forward) return absl::OkStatus();
  return absl::UnimplementedError(
      absl::StrCat("per-token loss weights (objective.type DPO) are not supported by the ",
                   runner, " path"));
}

// EachCrossEntropy(in, forward): forward-only over the micro-batches of
// `in`, the summed cross-entropy of each.
template <typename ForwardFn>
absl::StatusOr<std::vector<double>> EachCrossEntropy(const PassInput& in, ForwardFn forward) {
  std::vector<double> ce(in.micro_batches, 0.0);
  for (int64_t m = 0; m < in.micro_batches; ++m) {
    HS_ASSIGN_OR_RETURN(models::ForwardResult r,
                        forward(MicroBatch(in.tokens, in, m), MicroBatch(in.targets, in, m)));
    ce[m] = r.ce_sum;
  }
  return ce;
}

// The CPU model's arena, updated through GradSync and the optimizers.
class HostRunner : public ModelRunner {
 public:
  HostRunner(models::DeepseekV2Model* model, HostUpdate update)
      : model_(model), update_(std::move(update)) {}

  absl::Status ZeroGrads() override {
    model_->arena().ZeroGrads();
    return absl::OkStatus();
  }

  absl::StatusOr<UpdateResult> Update(int64_t step, double lr) override {
    models::ParamArena& arena = model_->arena();
    auto& optimizers = *update_.optimizers;
    auto apply = [&](size_t i, int64_t b, int64_t e, float grad_scale) {
      return optimizers[i]->Step(arena.params() + b, arena.grads() + b, b, e - b, step, lr,
                                 grad_scale);
    };
    std::function<absl::Status()> after_reduce;
    if (update_.after_reduce) after_reduce = [&] { return update_.after_reduce(step); };
    UpdateResult r;
    HS_ASSIGN_OR_RETURN(r.grad_norm, update_.sync->Finish(step, apply, after_reduce));
    r.timeline = update_.sync->timeline();
    return r;
  }

 protected:
  models::DeepseekV2Model* model_;
  HostUpdate update_;
};

class CpuRunner final : public HostRunner {
 public:
  using HostRunner::HostRunner;

  models::DeepseekV2Model* whole_model() override { return model_; }

  absl::Status BackwardWith(const OwnBackward& pass) override {
    parallel::GradSync* sync = update_.sync;
    if (!sync->data_parallel()) return pass(nullptr);
    sync->BeginBackward();
    absl::Status s = pass(sync->hook());
    sync->EndBackward();
    return s;
  }

  absl::StatusOr<PassResult> ForwardBackward(const PassInput& in) override {
    PassResult res;
    parallel::GradSync* sync = update_.sync;
    std::vector<float> weighed;  // weigh_after_forward's weights of a micro-batch
    if (in.weigh_after_forward) weighed.resize(in.micro_batch * in.seq_len);
    // Without weights that depend on the forward, the backward's ce_scale
    // is known now: the forward writes the cross-entropy's gradient in the
    // same pass over the logits as the loss.
    std::optional<float> backward_ce_scale;
    if (!in.weigh_after_forward) backward_ce_scale = in.ce_scale;
    for (int64_t m = 0; m < in.micro_batches; ++m) {
      HS_ASSIGN_OR_RETURN(models::ForwardResult r,
                          model_->Forward(MicroBatch(in.tokens, in, m),
                                          MicroBatch(in.targets, in, m), in.micro_batch,
                                          in.seq_len, MicroBatch(in.positions, in, m),
                                          backward_ce_scale));
      res.ce_sum += r.ce_sum;
      res.correct_tokens += r.correct_tokens;
      // The balance loss is a mean over sequences: weight each micro-batch
      // by its share of the global batch.
      res.aux_loss += r.aux_loss * in.aux_scale;
      AddLoad(model_->ExpertLoad(), &res.expert_load);
      const float* weights = nullptr;
      if (in.weigh_after_forward) {
        HS_RETURN_IF_ERROR(in.weigh_after_forward(m, r.row_ce_sum, weighed.data()));
        weights = weighed.data();
      }
      if (sync->data_parallel() && m + 1 == in.micro_batches) {
        // Only the last micro-batch's gradients are final: reduce them
        // while its backward runs.
        sync->BeginBackward();
        HS_RETURN_IF_ERROR(model_->Backward(in.ce_scale, in.aux_scale, sync->hook(), weights));
        sync->EndBackward();
      } else {
        HS_RETURN_IF_ERROR(model_->Backward(in.ce_scale, in.aux_scale, nullptr, weights));
      }
    }
    return res;
  }

  absl::StatusOr<std::vector<double>> ForwardEach(const PassInput& in) override {
    int64_t m = 0;
    return EachCrossEntropy(in, [&](const int32_t* tokens, const int32_t* targets) {
      return model_->Forward(tokens, targets, in.micro_batch, in.seq_len,
                             MicroBatch(in.positions, in, m++));
    });
  }

  absl::StatusOr<std::vector<double>> ForwardRows(const PassInput& in) override {
    std::vector<double> rows;
    rows.reserve(in.micro_batches * in.micro_batch);
    for (int64_t m = 0; m < in.micro_batches; ++m) {
      HS_ASSIGN_OR_RETURN(models::ForwardResult r,
                          model_->Forward(MicroBatch(in.tokens, in, m),
                                          MicroBatch(in.targets, in, m), in.micro_batch,
                                          in.seq_len, MicroBatch(in.positions, in, m)));
      rows.insert(rows.end(), r.row_ce_sum.begin(), r.row_ce_sum.end());
    }
    return rows;
  }
};

class PipelineStageRunner final : public HostRunner {
 public:
  PipelineStageRunner(parallel::PipelineRunner* pipeline, models::DeepseekV2Model* stage,
                      HostUpdate update)
      : HostRunner(stage, std::move(update)), pipeline_(pipeline) {}

  absl::StatusOr<PassResult> ForwardBackward(const PassInput& in) override {
    HS_ASSIGN_OR_RETURN(parallel::PipelineStepResult r, Step(in, in.aux_scale, false));
    PassResult res;
    res.ce_sum = r.ce_sum;
    res.correct_tokens = r.correct_tokens;
    res.aux_loss = r.aux_loss;
    res.bubble = r.bubble();
    res.expert_load = std::move(r.expert_load);
    // Gradients are final only after the last micro-batch's backward:
    // reduce them all now.
    update_.sync->BeginBackward();
    update_.sync->EndBackward();
    return res;
  }

  absl::StatusOr<std::vector<double>> ForwardEach(const PassInput& in) override {
    HS_ASSIGN_OR_RETURN(parallel::PipelineStepResult r, Step(in, 0.0f, true));
    if (r.micro_ce.empty()) r.micro_ce.assign(in.micro_batches, 0.0);  // not the last stage
    return std::move(r.micro_ce);
  }

  absl::StatusOr<std::vector<double>> ForwardRows(const PassInput& in) override {
    HS_ASSIGN_OR_RETURN(parallel::PipelineStepResult r, Step(in, 0.0f, true));
    if (r.row_ce.empty()) r.row_ce.assign(in.micro_batches * in.micro_batch, 0.0);
    return std::move(r.row_ce);
  }

 private:
  absl::StatusOr<parallel::PipelineStepResult> Step(const PassInput& in, float aux_scale,
                                                    bool forward_only) {
    return pipeline_->Step(in.tokens, in.targets, in.micro_batches, in.micro_batch, in.seq_len,
                           in.ce_scale, aux_scale, in.positions, forward_only,
                           in.weigh_after_forward ? &in.weigh_after_forward : nullptr);
  }
  parallel::PipelineRunner* pipeline_;
};

class EngineRunner final : public ModelRunner {
 public:
  explicit EngineRunner(StepEngine* engine) : engine_(engine) {}

  absl::Status ZeroGrads() override { return engine_->ZeroGrads(); }

  absl::StatusOr<PassResult> ForwardBackward(const PassInput& in) override {
    HS_RETURN_IF_ERROR(NoPositions(in, "train.device"));
    HS_RETURN_IF_ERROR(NoTokenWeights(in, "train.device"));
    PassResult res;
    for (int64_t m = 0; m < in.micro_batches; ++m) {
      HS_ASSIGN_OR_RETURN(models::ForwardResult r,
                          engine_->Forward(MicroBatch(in.tokens, in, m),
                                           MicroBatch(in.targets, in, m)));
      res.ce_sum += r.ce_sum;
      res.aux_loss += r.aux_loss * in.aux_scale;
      AddLoad(engine_->ExpertLoad(), &res.expert_load);
      HS_RETURN_IF_ERROR(engine_->Backward(in.ce_scale, in.aux_scale));
    }
    return res;
  }

  absl::StatusOr<std::vector<double>> ForwardEach(const PassInput& in) override {
    HS_RETURN_IF_ERROR(NoPositions(in, "train.device"));
    return EachCrossEntropy(in, [&](const int32_t* tokens, const int32_t* targets) {
      return engine_->Forward(tokens, targets);
    });
  }

  absl::StatusOr<std::vector<double>> ForwardRows(const PassInput& in) override {
    // One sequence per micro-batch: each micro-batch's sum is the row's.
    if (in.micro_batch == 1) return ForwardEach(in);
    return absl::UnimplementedError(
        "per-sequence cross-entropies of several sequences per micro-batch (objective.type DPO's "
        "pair-shaped passes) are not supported by the train.device path");
  }

  absl::StatusOr<UpdateResult> Update(int64_t step, double lr) override {
    UpdateResult r;
    HS_ASSIGN_OR_RETURN(r.grad_norm, engine_->ReduceAndStep(step, lr));
    return r;
  }

 private:
  StepEngine* engine_;
};

}  // namespace

absl::StatusOr<double> ModelRunner::Forward(const PassInput& in) {
  HS_ASSIGN_OR_RETURN(std::vector<double> each, ForwardEach(in));
  double ce = 0;
  for (double x : each) ce += x;  // micro-batch order, as the passes accumulate
  return ce;
}

std::unique_ptr<ModelRunner> MakeCpuRunner(models::DeepseekV2Model* model, HostUpdate update) {
  return std::make_unique<CpuRunner>(model, std::move(update));
}

std::unique_ptr<ModelRunner> MakePipelineRunner(parallel::PipelineRunner* pipeline,
                                                models::DeepseekV2Model* stage,
                                                HostUpdate update) {
  return std::make_unique<PipelineStageRunner>(pipeline, stage, std::move(update));
}

std::unique_ptr<ModelRunner> MakeEngineRunner(StepEngine* engine) {
  return std::make_unique<EngineRunner>(engine);
}

}  // namespace hs::train
