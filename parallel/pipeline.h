// File: parallel/pipeline.h
//
// Pipeline parallelism: this rank runs one stage (a contiguous range of
// decoder blocks; the embedding on the first stage, head + loss on the
// last) and exchanges activations and their gradients with its neighbours
// by non-blocking MPI point-to-point messages.
//
// Schedules, for stage s of p with m micro-batches (w = min(p-s-1, m)):
//
//   ONE_F_ONE_B (PipeDream-flush, non-interleaved):
//     1. warmup:    F(0) .. F(w-1)
//     2. steady:    for i in [0, m-w): F(w+i), B(i)       (B = full backward)
//     3. cooldown:  B(m-w) .. B(m-1)
//
//   ZB_H1 (zero bubble, Qi et al. 2023, same activation memory as 1F1B):
//     the same order, but B computes only input gradients (what the previous
//     stage waits for); the weight-gradient GEMMs (W) are recorded
//     (models/kernels/cpu/weight_grad_queue.h) and run whenever this stage
//     would otherwise sit idle waiting for a message, the rest after the
//     last B. W thus fills the warmup/cooldown bubbles.
//
//     p=4, m=4, stage 3 (last):  F0 B0 F1 B1 F2 B2 F3 B3 W..
//               stage 0:         F0 F1 F2 F3 [W] B0 [W] B1 [W] B2 B3 W..
//
// Idle time (blocked on a message, not running W) is measured on every
// stage; the bubble fraction is idle / step time. The theoretical bubble of
// 1F1B is (p-1)/(m+p-1).
#ifndef PARALLEL_PIPELINE_H_
#define PARALLEL_PIPELINE_H_

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "models/deepseek_v2.h"
#include "models/kernels/cpu/weight_grad_queue.h"

namespace hs::parallel {

enum class PipelineSchedule { kOneFOneB, kZbH1 };

struct PipelineStepResult {
  double ce_sum = 0;        // last stage only (0 elsewhere)
  int64_t valid_tokens = 0; // last stage only
  int64_t correct_tokens = 0;      // last stage (ModelOptions::count_correct_tokens)
  std::vector<double> micro_ce;    // last stage: each micro-batch's summed cross-entropy
  std::vector<double> row_ce;      // last stage: each sequence's (micro-batch-major)
  double aux_loss = 0;      // this stage's MoE layers, weighted by aux_scale per micro-batch
  double step_seconds = 0;
  double idle_seconds = 0;  // blocked waiting for a neighbour
  double bubble() const { return step_seconds > 0 ? idle_seconds / step_seconds : 0; }
  std::vector<int64_t> expert_load;
};

class PipelineRunner {
 public:
  // `comm`: the pipeline group (rank = stage); `stage` holds this stage's
  // blocks. Every call is collective over the group.
  PipelineRunner(MPI_Comm comm, models::DeepseekV2Model* stage, PipelineSchedule schedule,
                 absl::Duration timeout = absl::Seconds(300));

  // Step: forward and backward of m micro-batches of mb sequences of T
  // tokens. tokens/targets: [m, mb, T] (the first stage reads tokens, the
  // last targets). Gradients accumulate into the stage's arena. `positions`
  // [m, mb, T] (packed documents, data.document_mask; every stage reads
  // them) or nullptr. `forward_only`: forwards of every micro-batch, no
  // backward and no gradients (evaluation, log-probabilities). `weigh`
  // (optional): the last stage calls it after micro-batch i's forward with
  // its sequences' summed cross-entropy ([mb]); it fills the micro-batch's
  // token weights ([mb, T], signed: each token's cross-entropy weighted by
  // ce_scale x its weight) for that micro-batch's backward (DPO's weights
  // from the policy's own forward).
  using WeighFn = std::function<absl::Status(int64_t micro_batch, const std::vector<double>& row_ce,
                                             float* weights)>;
  absl::StatusOr<PipelineStepResult> Step(const int32_t* tokens, const int32_t* targets,
                                          int64_t m, int64_t mb, int64_t T, float ce_scale,
                                          float aux_scale, const int32_t* positions = nullptr,
                                          bool forward_only = false,
                                          const WeighFn* weigh = nullptr);

  int stage() const { return stage_; }
  int num_stages() const { return stages_; }

 private:
  // Waits for `req`, running deferred W work meanwhile (ZB-H1); idle time
  // (not spent on W) is added to *idle.
  absl::Status WaitFor(MPI_Request* req, const char* what, int64_t micro, double* idle);

  MPI_Comm comm_;
  models::DeepseekV2Model* model_;
  PipelineSchedule schedule_;
  absl::Duration timeout_;
  int stage_ = 0, stages_ = 1;
  kernels::cpu::WeightGradQueue w_;
};

// TheoreticalBubble(p, m) = (p-1)/(m+p-1).
inline double TheoreticalBubble(int64_t p, int64_t m) {
  return double(p - 1) / double(m + p - 1);
}

}  // namespace hs::parallel

#endif  // PARALLEL_PIPELINE_H_
