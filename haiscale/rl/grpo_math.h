// File: haiscale/rl/grpo_math.h
//
// GRPO's arithmetic (DeepSeekMath, arXiv 2402.03300), free of the model:
// group-relative advantages, the clipped per-token surrogate with the k3
// KL estimator, and how token losses aggregate into the step's loss. The
// objective feeds log-probs in and takes d(loss)/d(log-prob) per token
// out, which become the per-token weights of the backward pass.
//
//   advantage   A_i = (r_i - mean(group)) / (std + 1e-4), broadcast over
//               completion i's tokens; std is the group's (GROUP), the
//               whole batch's (BATCH) or not divided by (NONE). Sample
//               standard deviation (n - 1 in the denominator).
//   token loss  -min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A) + beta KL
//               rho = exp(logp - logp_old); KL = exp(ref - logp) - (ref - logp) - 1
//   aggregate   GRPO: mean over each sequence's tokens, then over sequences;
//               BNPO: sum over completion tokens / their count on this rank
//               (the job's loss is the mean of the ranks');
//               DAPO: sum / completion tokens of the whole batch;
//               DR_GRPO: sum / (sequences x max completion length).
// With num_iterations = 1, logp_old is logp itself (rho = 1, no clipping)
// and the gradient is the plain policy gradient.
#ifndef HAISCALE_RL_GRPO_MATH_H_
#define HAISCALE_RL_GRPO_MATH_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace hs::rl {

enum class ScaleRewards { kGroup, kBatch, kNone };
enum class LossType { kGrpo, kBnpo, kDapo, kDrGrpo };

inline constexpr double kAdvantageEpsilon = 1e-4;

struct Advantages {
  std::vector<double> values;   // one per completion
  int64_t groups = 0;
  int64_t zero_std_groups = 0;  // groups whose rewards are all equal (advantage 0)
  double frac_reward_zero_std = 0;
  double reward_mean = 0, reward_std = 0;  // over the batch (sample std)
};

// GroupAdvantages(rewards, group_size, scale): rewards of the whole batch,
// each prompt's group_size completions contiguous. Errors: group_size < 2,
// a size that is not a multiple of group_size, a non-finite reward.
absl::StatusOr<Advantages> GroupAdvantages(const std::vector<double>& rewards, int group_size,
                                           ScaleRewards scale);

struct ClipParams {
  double epsilon_low = 0.2, epsilon_high = 0.2;
  double beta = 0;  // KL weight; 0: no reference model, logp_ref unused
};

// One token's loss and its derivative with respect to logp.
struct TokenLoss {
  double loss = 0;
  double dloss_dlogp = 0;
  double ratio = 1;
  double kl = 0;
  bool clipped_low = false;   // rho < 1 - eps_low with A < 0 (gradient cut)
  bool clipped_high = false;  // rho > 1 + eps_high with A > 0 (gradient cut)
};

TokenLoss GrpoTokenLoss(double logp, double logp_old, double logp_ref, double advantage,
                        const ClipParams& clip);

// Counts the aggregation needs, over the whole batch (all ranks).
struct BatchCounts {
  int64_t global_sequences = 0;
  int64_t global_tokens = 0;        // completion tokens
  int64_t data_parallel = 1;        // ranks the loss is spread over
  int64_t max_completion_tokens = 0;  // DR_GRPO's constant
};

// TokenWeights(type, lengths, counts): the weight of each token of each of
// this rank's sequences (lengths = completion tokens per sequence), so that
// the step's loss is the sum over ranks of sum_i w_i sum_t loss_it.
absl::StatusOr<std::vector<double>> TokenWeights(LossType type, const std::vector<int64_t>& lengths,
                                                 const BatchCounts& counts);

// A batch of sequences' token losses, aggregated.
struct BatchLoss {
  double loss = 0;                   // this rank's share of the step's loss
  std::vector<double> dloss_dlogp;   // per token, aggregation weight included
  double kl_sum = 0;                 // over tokens (unweighted)
  int64_t clipped_low = 0, clipped_high = 0, tokens = 0;
};

// GrpoBatchLoss: tokens of sequence i are contiguous, lengths[i] of them;
// advantages per sequence; logp_ref may be empty when clip.beta == 0.
absl::StatusOr<BatchLoss> GrpoBatchLoss(const std::vector<double>& logp,
                                        const std::vector<double>& logp_old,
                                        const std::vector<double>& logp_ref,
                                        const std::vector<int64_t>& lengths,
                                        const std::vector<double>& advantages,
                                        const ClipParams& clip, LossType type,
                                        const BatchCounts& counts);

}  // namespace hs::rl

#endif  // HAISCALE_RL_GRPO_MATH_H_
