// File: haiscale/train/trainer.h
//
// Trainer: the training loop of `hai train`, single-process or under
// mpirun. It wires the pieces and runs the loop; each piece owns one job:
//   parallel::ParallelContext  every communicator, ranks, the loop's sums
//   BatchLayout                the global batch over ranks and micro-batches
//   Objective                  batch -> forward/backward -> named metrics
//   ModelRunner                CPU model | pipeline schedule | device engine
//   parallel::GradSync         DDP / ZeRO-1 / clip (inside the CPU runners)
//   StepLog, Checkpointer      metrics.jsonl and console; checkpoints
//
//   for step in [start, train.steps):
//     runner.ZeroGrads()
//     sums = objective.ForwardBackward(step, runner)   // micro-batches
//     update = runner.Update(step, lr(step))           // reduce, clip, optimizer
//     metrics = objective.Report(sum of sums over ranks) + timings
//     log; every train.eval_every: objective.Evaluate(runner)
//     preemption / train.save_every: checkpoint
//   save weights (HF safetensors + config.json) to <output_dir>/weights
//
// Rank 0 logs and writes the run directory.
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
#include "haiscale/checkpoint/checkpointer.h"
#include "haiscale/config/config.pb.h"
#include "haiscale/train/batch_layout.h"
#include "haiscale/train/cpu_peak.h"
#include "haiscale/train/model_runner.h"
#include "haiscale/train/objective.h"
#include "haiscale/train/step_engine.h"
#include "haiscale/train/step_log.h"
#include "models/deepseek_v2.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "parallel/context.h"
#include "parallel/expert_parallel.h"
#include "parallel/grad_sync.h"
#include "parallel/pipeline.h"

namespace hs::train {

struct TrainerOptions {
  bool live_progress = false;   // rewrite one progress line (terminal)
  bool write_outputs = true;    // config copy, metrics.jsonl, weights
  bool quiet = false;           // print nothing per step
  // Join the MPI world of this process (mpirun): its ranks split into
  // pipeline stages (parallel.pp) and data-parallel groups. false: one
  // process.
  bool distributed = false;
  // The caller already ran config::ValidateConfig on this config (hai train
  // does, naming the config file): Create does not validate it again.
  bool config_validated = false;
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
  // --resume-from: resume from this checkpoint directory (verified whole)
  // instead of the newest intact one FindLatest picks.
  std::string resume_from;
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
  ~Trainer();

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
  // Create's stages, in order (trainer.cc).
  absl::Status BuildParallel();
  absl::Status BuildModel();
  absl::Status BuildRunner();
  absl::Status BuildHostRunner();
  absl::Status BuildEngine();
  absl::Status OpenRunDirectory();
  absl::Status ResumeAndOpenLog();
  // Run's pieces.
  void LogRunHeader();
  absl::StatusOr<bool> StopForPreemption(int64_t step);
  absl::Status Finish();
  absl::Status DumpGradients() const;
  // WritesParam(spec): this rank is the one that saves `spec` (checkpoints,
  // weight files, gradient dumps), so every tensor is written exactly once:
  // dense ones by the stage's first DP rank, routed experts by the first EP
  // group (whose ranks hold different experts).
  bool WritesParam(const models::ParamSpec& spec) const;
  // trainer_checkpoint.cc
  absl::Status SaveCheckpoint(int64_t steps_done);
  absl::Status RestoreCheckpoint(const std::string& dir);
  static absl::Status TrimMetrics(const std::string& path, int64_t keep_steps);
  checkpoint::Topology CheckpointTopology() const;
  bool sharded() const { return grad_sync_ && grad_sync_->sharded(); }
  // ZeroOneState(): checkpoints hold this rank's ZeRO-1 parts (split state
  // is saved whole with node-shared parameters).
  bool ZeroOneState() const;
  // A digest of OwnedRanges(): ZeRO-1 state is saved by position, so a
  // resume checks that this rank owns the same parts.
  std::string OwnedRangesDigest() const;

  config::RunConfig config_;
  TrainerOptions options_;
  // Declared first: destroyed last (everything below may use its groups).
  std::unique_ptr<parallel::ParallelContext> ctx_;
  BatchLayout batch_;
  // The expert dispatcher must outlive the model that uses it.
  std::unique_ptr<parallel::AllToAllExpertDispatcher> dispatcher_;
  std::unique_ptr<models::DeepseekV2Model> model_;
  // train.device != CPU: the step runs here; model_ is the host mirror.
  std::unique_ptr<StepEngine> engine_;
  std::unique_ptr<parallel::PipelineRunner> pipeline_;
  std::unique_ptr<parallel::GradSync> grad_sync_;  // CPU model only
  // One optimizer per owned arena range (one range without ZeRO).
  std::vector<std::unique_ptr<optim::Optimizer>> optimizers_;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<Objective> objective_;
  std::unique_ptr<optim::LrSchedule> schedule_;
  std::unique_ptr<StepLog> log_;
  CpuPeak peak_;
  bool save_weights_ = true;  // collective: all ranks call SaveWeights
  std::string jsonl_;         // <output_dir>/metrics.jsonl (rank 0)
  std::unique_ptr<checkpoint::Checkpointer> checkpointer_;
  int64_t start_step_ = 0;
  std::string resumed_from_;
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
