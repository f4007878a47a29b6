// File: haiscale/train/trainer.h
//
// Trainer: the single-process training loop of `hai train` (data-parallel
// and pipeline runs wrap the same loop from parallel/).
//
//   for step in [0, train.steps):
//     zero grads
//     for each micro-batch of the global batch:       (gradient accumulation)
//       forward -> loss;  backward (ce / tokens of the global batch)
//     clip global grad norm;  lr = schedule(step);  optimizer step
//     log: progress line + <output_dir>/metrics.jsonl
//   save weights (HF safetensors + config.json) to <output_dir>/weights
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
#include "haiscale/config/config.pb.h"
#include "haiscale/train/cpu_peak.h"
#include "haiscale/train/step_log.h"
#include "models/deepseek_v2.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"

namespace hs::train {

struct TrainerOptions {
  bool live_progress = false;   // rewrite one progress line (terminal)
  bool write_outputs = true;    // config copy, metrics.jsonl, weights
  bool quiet = false;           // print nothing per step
};

class Trainer {
 public:
  // Create: validates the config, builds the model (optionally from
  // train.init_from), the optimizer, the schedule and the data sampler.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      const config::RunConfig& config, const TrainerOptions& options);

  // Run: trains train.steps steps, then saves the weights.
  absl::Status Run();

  // TrainStep(step): one optimizer step; returns its metrics.
  absl::StatusOr<StepMetrics> TrainStep(int64_t step);

  // SaveWeights(dir): HF-layout model.safetensors + config.json.
  absl::Status SaveWeights(const std::string& dir) const;

  models::DeepseekV2Model& model() { return *model_; }
  const std::vector<double>& losses() const { return losses_; }
  const CpuPeak& peak() const { return peak_; }

 private:
  Trainer() = default;

  config::RunConfig config_;
  TrainerOptions options_;
  std::unique_ptr<models::DeepseekV2Model> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::LrSchedule> schedule_;
  std::unique_ptr<data::TokenFile> data_file_;
  std::unique_ptr<data::Sampler> sampler_;
  std::unique_ptr<StepLog> log_;
  CpuPeak peak_;
  int64_t micro_batch_ = 0, accum_ = 0, seq_len_ = 0, global_batch_ = 0;
  std::vector<int32_t> inputs_, targets_;  // [global_batch, S]
  std::vector<double> losses_;
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
