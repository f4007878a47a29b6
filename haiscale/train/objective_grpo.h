// File: haiscale/train/objective_grpo.h
//
// objective.type GRPO: on-line rollouts and the GRPO policy loss
// (haiscale/rl/grpo_step.h) as a trainer objective. Each generation batch
// takes objective.grpo.prompts_per_step prompts of the prompts JSONL (a
// keyed permutation per epoch of train.seed, so the prompts follow from
// the batch number), samples num_generations completions of each with the
// model being trained, scores them with the configured rewards, and serves
// grpo.num_iterations optimizer steps (step s updates on batch s / μ;
// update 0 is on-policy and records π_old's log-probs for the others).
//
// Data parallel: the prompts split into contiguous blocks over the ranks,
// each prompt's completions on one rank; completion j of the batch samples
// from stream j of the (train.seed, batch) seed, so rollouts, rewards and
// advantages are those of one process whatever the rank count (rewards are
// summed over the ranks for the group and batch statistics). The policy
// pass's gradients reduce through the runner's DDP (BackwardWith).
//
// Kept in train.output_dir for an exact resume: grpo_reference/ (beta > 0:
// the initial weights, the frozen reference; not created when beta = 0) and
// grpo_rollouts/ (num_iterations > 1: the generation batches a checkpoint
// falls inside of).
//
// Expert parallel: rollouts and the policy pass go through the trainer's
// expert dispatcher; the ranks decode in lockstep (GrpoRanks::lockstep).
// The reference holds the policy's expert shard, with its own dispatcher.
//
// Refused with an error naming the field: parallel.pp > 1 (rollouts and
// the policy pass need every layer on each rank), train.eval_every > 0;
// train.device other than CPU fails at the first step.
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
