// File: haiscale/train/model_runner.h
//
// ModelRunner: how this rank's share of a batch goes through the model,
// and how the gradients become an update. The training loop and the
// objectives see only this interface; the strategies behind it are
//   * the CPU model, micro-batch after micro-batch, with GradSync (DDP,
//     ZeRO-1, clip) reducing the last micro-batch's gradients while its
//     backward runs (MakeCpuRunner);
//   * the pipeline schedule (1F1B / ZB-H1) over the stage's blocks, with
//     the same GradSync after the schedule (MakePipelineRunner);
//   * a StepEngine (train.device other than CPU), which does its own
//     data-parallel sum and AdamW (MakeEngineRunner).
//
// Per step the loop calls ZeroGrads(), then the objective calls
// ForwardBackward() (and Forward() for evaluation), then the loop calls
// Update(step, lr).
#ifndef HAISCALE_TRAIN_MODEL_RUNNER_H_
#define HAISCALE_TRAIN_MODEL_RUNNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/train/step_engine.h"
#include "models/deepseek_v2.h"
#include "optim/optimizer.h"
#include "parallel/grad_sync.h"
#include "parallel/pipeline.h"

namespace hs::train {

// One pass over this rank's share of a batch: micro_batches micro-batches
// of micro_batch sequences of seq_len tokens, contiguous.
struct PassInput {
  const int32_t* tokens = nullptr;   // [micro_batches * micro_batch, seq_len]
  const int32_t* targets = nullptr;  // same shape; < 0: ignored
  // Same shape: packed-document positions (data.document_mask), or nullptr.
  const int32_t* positions = nullptr;
  int64_t micro_batches = 0, micro_batch = 0, seq_len = 0;
  // d(loss)/d(summed cross-entropy), e.g. 1 / target tokens of the global
  // batch, so that gradients summed over ranks are the global batch's.
  float ce_scale = 0;
  // Optional (CPU model and pipeline): called after micro-batch m's forward
  // with its sequences' summed cross-entropy ([micro_batch]); it fills the
  // micro-batch's per-token loss weights (micro_batch x seq_len floats,
  // signed: each target's cross-entropy weighted by ce_scale x its weight)
  // that its backward then uses. Per-sequence weights that depend on the
  // pass's own forward (DPO's, from the policy log-probabilities) so cost no
  // extra forward. Pipeline: called on the last stage only.
  parallel::PipelineRunner::WeighFn weigh_after_forward;
  // Weight of each micro-batch's MoE balance loss (its share of the global
  // batch); 0 leaves the balance loss out.
  float aux_scale = 0;
};

struct PassResult {
  double ce_sum = 0;    // summed cross-entropy of the targets (pipeline: last stage)
  double aux_loss = 0;  // balance losses, each weighted by aux_scale
  double bubble = 0;    // pipeline: share of the step spent waiting
  int64_t correct_tokens = 0;  // targets the logits' argmax predicts (pipeline: last stage)
  std::vector<int64_t> expert_load;  // routed tokens per expert, summed
};

struct UpdateResult {
  double grad_norm = 0;             // before clipping
  parallel::CommTimeline timeline;  // gradient communication (CPU DDP)
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual absl::Status ZeroGrads() = 0;
  // ForwardBackward: gradients (+=) of the pass.
  virtual absl::StatusOr<PassResult> ForwardBackward(const PassInput& in) = 0;
  // Forward: the summed cross-entropy of the pass (ForwardEach's sum), no
  // update (the pipeline: the last stage's sum, 0 elsewhere).
  absl::StatusOr<double> Forward(const PassInput& in);
  // ForwardEach: forward only, the summed cross-entropy of each
  // micro-batch ([micro_batches]; per-sequence log-probabilities with
  // micro_batch 1). Pipeline: the last stage's values, zeros elsewhere.
  virtual absl::StatusOr<std::vector<double>> ForwardEach(const PassInput& in) = 0;
  // ForwardRows: forward only, the summed cross-entropy of each sequence
  // ([micro_batches * micro_batch], micro-batch-major), computed in the
  // pass's shapes: a sequence's value has the bits it has in a training
  // pass of the same micro-batches (DPO's reference and policy agree
  // exactly while the weights are equal). Pipeline: the last stage's.
  virtual absl::StatusOr<std::vector<double>> ForwardRows(const PassInput& in) = 0;
  // Update(step, lr): reduce the gradients over the data-parallel group,
  // clip the global norm, optimizer step.
  virtual absl::StatusOr<UpdateResult> Update(int64_t step, double lr) = 0;
  // whole_model(): the complete CPU model, for objectives that also decode
  // with it (GRPO's rollouts) or run their own passes on it; nullptr for
  // pipeline stages and device engines.
  virtual models::DeepseekV2Model* whole_model() { return nullptr; }
  // BackwardWith(pass): runs `pass`, which calls whole_model()'s Backward
  // with the hook it is given, so that the data-parallel reduction of those
  // gradients overlaps the backward as in ForwardBackward (objectives with
  // their own passes on the whole model: GRPO's per-token weights).
  using OwnBackward = std::function<absl::Status(const models::GradReadyHook& on_ready)>;
  virtual absl::Status BackwardWith(const OwnBackward& pass) {
    (void)pass;
    return absl::UnimplementedError("this runner has no whole CPU model to run a pass on");
  }
};

// The CPU model's update: GradSync, then one optimizer per owned range.
// after_reduce(step) runs once the gradients are reduced, before clipping
// (gradient dumps for parity tests); may be null.
struct HostUpdate {
  parallel::GradSync* sync = nullptr;
  std::vector<std::unique_ptr<optim::Optimizer>>* optimizers = nullptr;
  std::function<absl::Status(int64_t step)> after_reduce;
};

std::unique_ptr<ModelRunner> MakeCpuRunner(models::DeepseekV2Model* model, HostUpdate update);
std::unique_ptr<ModelRunner> MakePipelineRunner(parallel::PipelineRunner* pipeline,
                                                models::DeepseekV2Model* stage,
                                                HostUpdate update);
std::unique_ptr<ModelRunner> MakeEngineRunner(StepEngine* engine);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_MODEL_RUNNER_H_
