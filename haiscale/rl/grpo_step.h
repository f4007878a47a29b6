// File: haiscale/rl/grpo_step.h
//
// GRPO on a model, in two parts a trainer can drive step by step:
//   GenerateRollouts: one generation batch on this rank —
//     1. every prompt is repeated num_generations times and all of them are
//        decoded together (models/decode Generate: continuous batching over
//        the latent cache); the sampling seed is derived from (seed,
//        generation) and completion j of the whole batch samples from
//        stream j, so a resumed run, and a run split over any number of
//        data-parallel ranks, regenerates exactly the same rollouts;
//     2. completions are decoded to text and scored by the RewardSet;
//     3. the rewards of the whole batch are summed over the ranks (each
//        entry comes from one rank: exact), and every rank computes the
//        group-relative advantages (GroupAdvantages, BATCH scaling included)
//        and the aggregation counts of the whole batch;
//     4. the reference model's log-probs once when beta > 0.
//   GrpoUpdate: one GRPO forward/backward over this rank's rows; iteration
//     0 is on-policy (ρ = 1) and, with num_iterations > 1, keeps its
//     log-probs as π_old's for iterations 1 .. num_iterations - 1.
// GrpoStep runs both with the updates in between (one process).
// A completion that ended at a stop token is trained with that token
// (stop_token_ids[0]) appended, so the policy learns when to stop.
#ifndef HAISCALE_RL_GRPO_STEP_H_
#define HAISCALE_RL_GRPO_STEP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/rl/grpo_math.h"
#include "haiscale/rl/policy_pass.h"
#include "haiscale/rl/rewards.h"
#include "models/decode/generator.h"
#include "models/deepseek_v2.h"
#include "nlohmann/json.hpp"

namespace hs::rl {

struct GrpoPrompt {
  nlohmann::json record;        // the JSONL line (rewards read its fields)
  std::vector<int32_t> tokens;  // the encoded prompt
};

struct GrpoOptions {
  int num_generations = 8;
  int64_t max_completion_tokens = 64;
  models::decode::SamplingParams sampling{1.0, 0, 1.0};
  int64_t decode_batch = 64;  // sequences decoded at once
  std::vector<int32_t> stop_token_ids;
  ScaleRewards scale_rewards = ScaleRewards::kGroup;
  LossType loss_type = LossType::kGrpo;
  ClipParams clip;
  int num_iterations = 1;
  uint64_t seed = 0;
};

// Statistics of a step. Rewards, advantages and completion lengths are the
// whole batch's (every rank has them); losses, kl, clip ratios and entropy
// are this rank's shares (their sums over the ranks are the batch's);
// rollout time, tokens and completions are this rank's.
struct GrpoStepStats {
  double reward_mean = 0, reward_std = 0;
  std::vector<double> reward_function_means;  // in RewardSet order
  double frac_reward_zero_std = 0;
  std::vector<double> losses;  // one per iteration
  double kl = 0;               // mean k3 KL per token (first iteration; 0 when beta = 0)
  double clip_ratio_low = 0, clip_ratio_high = 0;  // share of tokens (last iteration)
  double entropy = 0;          // mean per completion token (first iteration)
  double completion_length_mean = 0;
  int64_t completion_length_max = 0;
  double clipped_fraction = 0;  // completions that hit max_completion_tokens
  double rollout_seconds = 0, update_seconds = 0;
  int64_t rollout_tokens = 0;
  std::vector<std::string> completions;  // texts, prompt-major
};

using DecodeTokens = std::function<absl::StatusOr<std::string>(const std::vector<int32_t>&)>;
using UpdateFn = std::function<absl::Status(int iteration)>;

// How a generation batch is split over data-parallel ranks: this rank
// holds prompts [first_prompt, first_prompt + prompts.size()) of
// global_prompts. The defaults are one process.
struct GrpoRanks {
  int64_t first_prompt = 0;
  int64_t global_prompts = 0;  // 0: the prompts given
  int64_t data_parallel = 1;
  // sum(values, n): elementwise sum over the ranks, the same result on
  // every rank; null for one process.
  std::function<absl::Status(double* values, int n)> sum;
  // Expert parallelism: GenerationOptions::lockstep for the rollouts (the
  // ranks of an expert-parallel group decode step for step); null otherwise.
  std::function<absl::StatusOr<bool>(bool has_work)> lockstep;
};

// One generation batch on this rank: rows of prompt + completion
// (targets only on the completion), what the updates need, and the
// batch's statistics (GrpoStepStats without the update part).
struct GrpoRollouts {
  std::vector<int32_t> tokens, targets;  // [B, T]
  int64_t B = 0, T = 0;
  std::vector<double> advantages;  // per row
  BatchCounts counts;
  std::vector<double> logp_old;  // π_old per completion token (iteration 0 fills it)
  std::vector<double> logp_ref;  // the reference's (beta > 0)
  GrpoStepStats stats;
};

// GenerateRollouts: steps 1-4 above for generation batch `generation`.
// `reference` may be null when clip.beta == 0 (it is never read then).
absl::StatusOr<GrpoRollouts> GenerateRollouts(models::DeepseekV2Model* policy,
                                              models::DeepseekV2Model* reference,
                                              const std::vector<GrpoPrompt>& prompts,
                                              RewardSet& rewards, const DecodeTokens& decode,
                                              const GrpoOptions& options, int64_t generation,
                                              const GrpoRanks& ranks = {});

// GrpoUpdate: iteration `iteration` (0-based, < num_iterations) of the
// updates on `rollouts`: the loss and its gradients (+=) in `policy`
// (on_ready: DeepseekV2Model::Backward's gradient-ready hook).
absl::StatusOr<PolicyPassResult> GrpoUpdate(models::DeepseekV2Model* policy,
                                            GrpoRollouts* rollouts, const GrpoOptions& options,
                                            int iteration,
                                            const models::GradReadyHook& on_ready = nullptr);

// GrpoStep: one process; GenerateRollouts, then num_iterations times: zero
// the gradients, GrpoUpdate, `update(iteration)` (the caller's optimizer
// step).
absl::StatusOr<GrpoStepStats> GrpoStep(models::DeepseekV2Model* policy,
                                       models::DeepseekV2Model* reference,
                                       const std::vector<GrpoPrompt>& prompts, RewardSet& rewards,
                                       const DecodeTokens& decode, const GrpoOptions& options,
                                       int64_t step, const UpdateFn& update);

// RolloutSeed(seed, generation): the sampling seed of a generation batch.
uint64_t RolloutSeed(uint64_t seed, int64_t generation);

}  // namespace hs::rl

#endif  // HAISCALE_RL_GRPO_STEP_H_
