// File: haiscale/train/trainer.h
//
// Trainer: the training loop of `hai train`, single-process or data
// parallel under mpirun (parallel/ddp.h: buckets on HFReduce overlapping
// backward, optional ZeRO-1). Rank 0 logs and writes the run directory.
//
//   for step in [0, train.steps):
//     zero grads
//     for each micro-batch of this rank's slice of the global batch:
//       forward -> loss;  backward (ce / tokens of the global batch)
//       (last micro-batch: DDP reduces gradient buckets during backward)
//     wait for the reductions; clip global grad norm; lr = schedule(step)
//     optimizer step (ZeRO-1: on this rank's shard, then allgather)
//     log: progress line + <output_dir>/metrics.jsonl
//     every train.eval_every steps (and after the last): mean CE on the
//     first train.eval_batches global batches of data.eval_path
//   save weights (HF safetensors + config.json) to <output_dir>/weights
//
// With train.device CUDA the forward, backward, gradient reduction and
// AdamW step run in a StepEngine (step_engine.h); the loop is the same.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, {}));
//   HS_RETURN_IF_ERROR(trainer->Run());
#ifndef HAISCALE_TRAIN_TRAINER_H_
#define HAISCALE_TRAIN_TRAINER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/sampler.h"
#include "data/token_file.h"
#include "haiscale/checkpoint/checkpointer.h"
#include "haiscale/config/config.pb.h"
#include "haiscale/train/cpu_peak.h"
#include "haiscale/train/step_engine.h"
#include "haiscale/train/step_log.h"
#include "models/deepseek_v2.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "parallel/ddp.h"
#include "parallel/expert_parallel.h"
#include "parallel/pipeline.h"

namespace hs::train {

struct TrainerOptions {
  bool live_progress = false;   // rewrite one progress line (terminal)
  bool write_outputs = true;    // config copy, metrics.jsonl, weights
  bool quiet = false;           // print nothing per step
  // The job's ranks (MPI_COMM_NULL: single process). The trainer splits it
  // into pipeline stages (parallel.pp) and data-parallel groups.
  MPI_Comm world_comm = MPI_COMM_NULL;
  // Test knob: an artificially slow gradient transport (see parallel/ddp.h).
  double debug_comm_delay_ms = 0;
  // Verify after every step that all DP ranks hold identical parameters.
  bool check_replicas = false;
  // Write the reduced gradients of the first step (before clipping) to
  // <dir>/grads_stage<s>.safetensors (HF names), for parity tests.
  std::string dump_grads_dir;
  // Checkpoints (every train.save_every steps and at the end) under
  // <output_dir>/checkpoints; resume from the latest one when present.
  bool resume = true;
  bool require_checkpoint = false;  // --resume: no checkpoint is an error
  int keep_last = 3;
  bool async_checkpoint = false;
  // Testing: behave as if a preemption signal arrived after this many
  // steps (0: never).
  int64_t preempt_after_steps = 0;
};

class Trainer {
 public:
  // Create: validates the config, builds the model (optionally from
  // train.init_from), the optimizer, the schedule and the data sampler.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      const config::RunConfig& config, const TrainerOptions& options);

  // Run: trains from the resumed step (0 for a fresh run) to train.steps,
  // checkpointing every train.save_every steps, then saves the weights.
  // After a preemption signal it checkpoints and returns Cancelled.
  absl::Status Run();
  int64_t start_step() const { return start_step_; }

  // TrainStep(step): one optimizer step; returns its metrics.
  absl::StatusOr<StepMetrics> TrainStep(int64_t step);

  // Evaluate(): mean next-token cross-entropy of the current parameters on
  // the held-out rows of data.eval_path (the first train.eval_batches
  // global batches of rows of seq_len + 1 tokens, file order), split over
  // the data-parallel ranks like a training batch. Collective; needs
  // train.eval_every > 0 (FailedPrecondition otherwise).
  struct EvalResult {
    double loss = 0;
    int64_t tokens = 0;
  };
  absl::StatusOr<EvalResult> Evaluate();

  // SaveWeights(dir): HF-layout model.safetensors + config.json (a sharded
  // folder, one shard per pipeline stage, when pp > 1). Collective.
  absl::Status SaveWeights(const std::string& dir) const;

  // SyncHostModel(): with a StepEngine (train.device other than CPU),
  // copies its parameters and AdamW state into model() and the optimizer
  // (done before every checkpoint and weight file); no-op on the CPU.
  absl::Status SyncHostModel();

  models::DeepseekV2Model& model() { return *model_; }
  const std::vector<double>& losses() const { return losses_; }
  const CpuPeak& peak() const { return peak_; }
  // The gradient-communication timeline of the last step (data parallel).
  const parallel::CommTimeline& last_timeline() const { return last_timeline_; }
  // OptimizerStateFloats(): optimizer state held by this rank.
  int64_t OptimizerStateFloats() const;

 private:
  Trainer() = default;
  absl::Status DumpGradients() const;
  // ReduceAndStep(step, lr, timeline): the CPU model's step after its
  // backward: wait for the DDP reductions, clip the global norm, optimizer
  // step(s), ZeRO-1 allgather. Returns the norm before clipping.
  absl::StatusOr<double> ReduceAndStep(int64_t step, double lr, parallel::CommTimeline* timeline);
  std::vector<parallel::Ddp*> Ddps() const;
  // WritesParam(spec): this rank is the one that saves `spec` (checkpoints,
  // weight files, gradient dumps), so every tensor is written exactly once:
  // dense ones by the stage's first DP rank, routed experts by the first EP
  // group (whose ranks hold different experts).
  bool WritesParam(const models::ParamSpec& spec) const;
  // Arena ranges this rank's optimizers update (merged, sorted).
  std::vector<std::pair<int64_t, int64_t>> OwnedRanges() const;
  // trainer_checkpoint.cc
  absl::Status SaveCheckpoint(int64_t steps_done);
  absl::Status RestoreCheckpoint(const std::string& dir);
  static absl::Status TrimMetrics(const std::string& path, int64_t keep_steps);
  checkpoint::Topology CheckpointTopology() const;
  int WorldRank() const;

  config::RunConfig config_;
  TrainerOptions options_;
  // The expert dispatcher must outlive the model that uses it.
  std::unique_ptr<parallel::AllToAllExpertDispatcher> dispatcher_;
  std::unique_ptr<models::DeepseekV2Model> model_;
  // train.device != CPU: the step runs here; model_ is the host mirror.
  std::unique_ptr<StepEngine> engine_;
  // One optimizer per owned arena range (one range without ZeRO).
  std::vector<std::unique_ptr<optim::Optimizer>> optimizers_;
  std::unique_ptr<parallel::Ddp> ddp_;         // dense (or all) parameters over DP
  std::unique_ptr<parallel::Ddp> expert_ddp_;  // routed experts over their replicas (EP)
  int ep_size_ = 1, ep_rank_ = 0, ep_group_ = 0;
  MPI_Comm ep_comm_ = MPI_COMM_NULL, expert_comm_ = MPI_COMM_NULL;
  std::unique_ptr<parallel::PipelineRunner> pipeline_;
  int dp_rank_ = 0, dp_size_ = 1, stage_ = 0, pp_size_ = 1;
  MPI_Comm dp_comm_ = MPI_COMM_NULL, pp_comm_ = MPI_COMM_NULL;
  int64_t local_first_ = 0, local_count_ = 0;  // this rank's samples of a global batch
  std::unique_ptr<optim::LrSchedule> schedule_;
  std::unique_ptr<data::TokenFile> data_file_;
  std::unique_ptr<data::Sampler> sampler_;
  std::unique_ptr<data::TokenFile> eval_file_;  // train.eval_every > 0
  std::unique_ptr<data::EvalRows> eval_rows_;
  std::unique_ptr<StepLog> log_;
  CpuPeak peak_;
  int64_t micro_batch_ = 0, accum_ = 0, seq_len_ = 0, global_batch_ = 0;
  bool is_logger_ = true;  // rank 0
  bool save_weights_ = true;  // collective: all ranks call SaveWeights
  std::unique_ptr<checkpoint::Checkpointer> checkpointer_;
  MPI_Comm ckpt_comm_ = MPI_COMM_NULL;  // barrier of the (async) checkpoint writer
  int64_t start_step_ = 0;
  std::string resumed_from_;
  std::vector<int32_t> inputs_, targets_;  // [global_batch, S]
  std::vector<double> losses_;
  parallel::CommTimeline last_timeline_;
  double flops_per_token_ = 0;
  double train_seconds_ = 0;
};

// BuildOptimizer: the optimizer over a whole model arena from the config
// (AdamW or SGD; norm weights are not decayed).
absl::StatusOr<std::unique_ptr<optim::Optimizer>> BuildOptimizer(
    const config::RunConfig& config, const models::ParamArena& arena,
    int64_t begin, int64_t end);

// BuildSchedule: the LR schedule from the config.
absl::StatusOr<optim::LrSchedule> BuildSchedule(const config::RunConfig& config);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_TRAINER_H_
