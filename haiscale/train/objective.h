// File: haiscale/train/objective.h
//
// Objective: what a training step optimises, at the model boundary. Given
// the step number it reads its batch, runs this rank's share forward and
// backward through a ModelRunner (the CPU model, the pipeline schedule or
// a device engine: the objective does not know which) and returns named
// metric sums; the loop sums them over the job and the objective turns the
// job-wide sums into the step's metrics.
//
//   pretraining: next-token cross-entropy over packed sequences
//                (PretrainObjective, objective_pretrain.cc)
//   SFT, DPO:    objective_sft.cc, objective_dpo.cc (objective_post.h)
//
// Adding one (SFT, DPO, GRPO, ...) is a new subclass plus a branch in
// MakeObjective; the step loop does not change:
//   * SFT: the same pass with prompt targets masked (< 0) by its reader;
//   * DPO: its reader yields (chosen, rejected) pairs, it holds a second,
//     frozen ModelRunner for the reference model, runs forward on both and
//     backward with the DPO loss's per-sequence weights;
//   * GRPO: its reader yields rollouts, it computes per-token advantages
//     and runs backward with them as per-token loss weights.
// (Per-token weights and log-probs are a ModelRunner addition those
// objectives bring with them; the pass interface is theirs to extend.)
#ifndef HAISCALE_TRAIN_OBJECTIVE_H_
#define HAISCALE_TRAIN_OBJECTIVE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/sampler.h"
#include "data/token_file.h"
#include "haiscale/config/config.pb.h"
#include "haiscale/train/batch_layout.h"
#include "haiscale/train/model_runner.h"
#include "haiscale/train/step_log.h"
#include "parallel/context.h"

namespace hs::train {

// MetricSums: named per-rank contributions to a step's metrics. Every rank
// adds the same names in the same order, so the job-wide sum (in rank
// order) is taken value by value.
class MetricSums {
 public:
  void Add(const std::string& name, double value);
  double Get(const std::string& name) const;  // 0 when never added
  const std::vector<std::string>& names() const { return names_; }
  double* values() { return values_.data(); }
  int size() const { return int(values_.size()); }

 private:
  std::vector<std::string> names_;
  std::vector<double> values_;
};

struct EvalResult {
  double loss = 0;     // mean held-out loss
  int64_t tokens = 0;  // target tokens it averaged over
  // The objective's own held-out metrics (e.g. DPO's rewards/margins),
  // logged as eval_<name>.
  std::vector<std::pair<std::string, double>> metrics;
  bool perplexity = true;  // loss is a cross-entropy (the step line shows exp(loss))
};

class Objective {
 public:
  virtual ~Objective() = default;
  // ForwardBackward(step, runner): step `step`'s batch through `runner`;
  // gradients accumulate in the model. This rank's metric sums.
  virtual absl::StatusOr<MetricSums> ForwardBackward(int64_t step, ModelRunner& runner) = 0;
  // Report(job, m): the step's metrics from the sums over every rank.
  virtual void Report(const MetricSums& job, StepMetrics* m) const = 0;
  // has_eval(): a held-out set is configured (train.eval_every > 0).
  virtual bool has_eval() const = 0;
  // Evaluate(runner): the held-out loss of the current parameters, over
  // the whole job (collective).
  virtual absl::StatusOr<EvalResult> Evaluate(ModelRunner& runner) = 0;
  // header_notes(): what the objective trains on (data, mixture, its
  // hyper-parameters), for the run header: the trainer logs them with the
  // rest of the header (train.log too), and not at all when quiet (e.g.
  // `hai bench train --json`, whose stdout must stay JSON).
  const std::vector<std::string>& header_notes() const { return header_notes_; }
  void AddHeaderNote(std::string note) { header_notes_.push_back(std::move(note)); }

 private:
  std::vector<std::string> header_notes_;
};

// MakeObjective(config, layout, ctx): the objective of the run
// (objective.type), with its data opened and checked against the model's
// vocabulary. Errors name data.train_path / data.eval_path.
absl::StatusOr<std::unique_ptr<Objective>> MakeObjective(const config::RunConfig& config,
                                                         const BatchLayout& layout,
                                                         const parallel::ParallelContext* ctx);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_OBJECTIVE_H_
