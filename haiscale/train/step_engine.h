// File: haiscale/train/step_engine.h
//
// StepEngine: the model work of a training step run somewhere other than
// the trainer's CPU model: on a GPU (haiscale/train/cuda/cuda_step_engine.cc,
// `train.device: CUDA`). The trainer keeps everything else: the data
// order, the loss normalisation, the LR schedule, logging, evaluation,
// checkpoints and weight files. Its CPU model stays as the host mirror of
// the parameters: it initialises them (seed or train.init_from), and the
// engine's parameters and AdamW state are copied back into it (StoreState)
// before a checkpoint or the weight files are written, so checkpoints are
// the same files whichever device trained them, and a run may resume on
// the other device.
//
// One engine per rank; data parallelism is the engine's job (the GPU
// engine sums gradients over the data-parallel group with HFReduce's
// staged GPU path). Engines register by device name (the TrainConfig
// Device enum's name, e.g. "CUDA") from the library that implements them,
// so a `hai` built without CUDA refuses `train.device: CUDA` by name.
//
// Per step the trainer calls:
//   ZeroGrads();
//   for each micro-batch: Forward(tokens, targets); Backward(1/valid, share);
//   ReduceAndStep(step, lr);     // sum over DP, clip, AdamW
#ifndef HAISCALE_TRAIN_STEP_ENGINE_H_
#define HAISCALE_TRAIN_STEP_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/config/config.pb.h"
#include "models/deepseek_v2.h"
#include "parallel/context.h"

namespace hs::train {

struct StepEngineSetup {
  const config::RunConfig* config = nullptr;  // filled and validated
  models::DeepseekV2Config model;
  int64_t micro_batch = 0;  // sequences per Forward
  int64_t seq_len = 0;
  // The run's ranks and groups: the engine sums gradients over its
  // data-parallel group; local_rank() picks the device. Outlives the engine.
  const parallel::ParallelContext* parallel = nullptr;
  int64_t arena_size = 0;  // the CPU arena's float count (layouts must match)
};

class StepEngine {
 public:
  virtual ~StepEngine() = default;

  // Describe(): one line for the run log (device, data-parallel transport).
  virtual std::string Describe() const = 0;
  // Peak model FLOP/s of this rank's device (for MFU) and how it was derived.
  virtual double PeakGflops() const = 0;
  virtual std::string PeakHow() const = 0;

  virtual absl::Status ZeroGrads() = 0;
  // Forward(tokens, targets): one micro-batch of micro_batch x seq_len
  // host ids (targets < 0 ignored); as DeepseekV2Model::Forward.
  virtual absl::StatusOr<models::ForwardResult> Forward(const int32_t* tokens,
                                                        const int32_t* targets) = 0;
  // Backward(ce_scale, aux_scale): gradients (+=) of the last Forward.
  virtual absl::Status Backward(float ce_scale, float aux_scale) = 0;
  // Per-expert routed token counts of the last Forward (empty: dense).
  virtual std::vector<int64_t> ExpertLoad() const = 0;
  // ReduceAndStep(step, lr): sums the gradients over the data-parallel
  // group, clips the global norm to optimizer.grad_clip and takes the AdamW
  // step. Returns the norm before clipping; a non-finite norm is Internal
  // and nothing is updated.
  virtual absl::StatusOr<double> ReduceAndStep(int64_t step, double lr) = 0;

  // LoadState / StoreState: parameters and AdamW moments in the CPU
  // arena's layout (arena_size floats each; exp_avg / exp_avg_sq may be
  // null on load: zero state).
  virtual absl::Status LoadState(const float* params, const float* exp_avg,
                                 const float* exp_avg_sq) = 0;
  virtual absl::Status StoreState(float* params, float* exp_avg, float* exp_avg_sq) = 0;
};

using StepEngineFactory =
    std::function<absl::StatusOr<std::unique_ptr<StepEngine>>(const StepEngineSetup&)>;

// RegisterStepEngine(device, factory): call from a static initialiser of
// the engine's library (alwayslink). Returns true (for the initialiser).
bool RegisterStepEngine(const std::string& device, StepEngineFactory factory);

// CreateStepEngine(device, setup): the registered engine for `device`, or
// FailedPrecondition naming train.device and the build that has it.
absl::StatusOr<std::unique_ptr<StepEngine>> CreateStepEngine(const std::string& device,
                                                             const StepEngineSetup& setup);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_STEP_ENGINE_H_
