// File: haiscale/train/objective_grpo.h
//
// objective.type GRPO: on-line rollouts and the GRPO policy loss
// (haiscale/rl/grpo_step.h) as a trainer objective. Each step takes
// objective.grpo.prompts_per_step prompts of the prompts JSONL (a keyed
// permutation per epoch of train.seed, so the prompts of a step follow
// from the step number), samples num_generations completions of each with
// the model being trained, scores them with the configured rewards and
// leaves the GRPO loss's gradients in the model for the loop's update.
// The rollout seed is derived from (train.seed, step): a resumed run
// repeats the uninterrupted run's rollouts and losses.
//
// Supported today: one process (parallel.dp = 1), the CPU model,
// grpo.num_iterations = 1 and grpo.beta = 0; other settings are refused
// with an error naming the field.
#ifndef HAISCALE_TRAIN_OBJECTIVE_GRPO_H_
#define HAISCALE_TRAIN_OBJECTIVE_GRPO_H_

#include <memory>

#include "absl/status/statusor.h"
#include "haiscale/train/objective.h"

namespace hs::train {

absl::StatusOr<std::unique_ptr<Objective>> MakeGrpoObjective(const config::RunConfig& config,
                                                             const parallel::ParallelContext* ctx);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_OBJECTIVE_GRPO_H_
