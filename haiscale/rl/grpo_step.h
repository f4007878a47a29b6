// File: haiscale/rl/grpo_step.h
//
// One GRPO step on a model: rollouts, rewards, advantages, then
// num_iterations policy updates on that generation batch.
//   1. every prompt is repeated num_generations times and all of them are
//      decoded together (models/decode Generate: continuous batching over
//      the latent cache); the sampling seed is derived from (seed, step),
//      so a resumed run regenerates exactly the same rollouts;
//   2. completions are decoded to text and scored by the RewardSet;
//   3. group-relative advantages (GroupAdvantages);
//   4. π_old's log-probs are computed once when num_iterations > 1 (with
//      one iteration the pass is on-policy: ρ = 1), the reference model's
//      once when beta > 0; then num_iterations times: zero the gradients,
//      GRPO forward/backward over all rows, `update(iteration)` (the
//      caller's optimizer step).
// A completion that ended at a stop token is trained with that token
// (stop_token_ids[0]) appended, so the policy learns when to stop.
// Single process: the batch counts are this process's.
#ifndef HAISCALE_RL_GRPO_STEP_H_
#define HAISCALE_RL_GRPO_STEP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/rl/grpo_math.h"
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

// GrpoStep: `reference` may be null when clip.beta == 0 (it is never
// read then).
absl::StatusOr<GrpoStepStats> GrpoStep(models::DeepseekV2Model* policy,
                                       models::DeepseekV2Model* reference,
                                       const std::vector<GrpoPrompt>& prompts, RewardSet& rewards,
                                       const DecodeTokens& decode, const GrpoOptions& options,
                                       int64_t step, const UpdateFn& update);

// RolloutSeed(seed, step): the sampling seed of a step's rollouts.
uint64_t RolloutSeed(uint64_t seed, int64_t step);

}  // namespace hs::rl

#endif  // HAISCALE_RL_GRPO_STEP_H_
