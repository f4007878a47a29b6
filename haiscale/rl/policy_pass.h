// File: haiscale/rl/policy_pass.h
//
// The GRPO loss through the model: one forward over prompt + completion
// rows, each completion token's log-probability (and the policy's entropy
// there) from the logits, GrpoBatchLoss on them, and a backward whose
// per-token cross-entropy weights are -d(loss)/d(logp) (d logp / d logits
// = onehot - softmax is minus the cross-entropy's gradient).
//
// Rows: tokens [B*T] and targets [B*T]; a row's completion tokens are its
// targets >= 0, in order (prompt and padding targets are -1).
#ifndef HAISCALE_RL_POLICY_PASS_H_
#define HAISCALE_RL_POLICY_PASS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/rl/grpo_math.h"
#include "models/deepseek_v2.h"

namespace hs::rl {

// TokenLogProbs(logits, targets, N, V, logp, entropy): for each row with a
// target >= 0, log softmax(logits)[target] and the softmax's entropy,
// appended in row order.
void TokenLogProbs(const float* logits, const int32_t* targets, int64_t N, int64_t V,
                   std::vector<double>* logp, std::vector<double>* entropy);

// CompletionLengths(targets, B, T): targets >= 0 per row.
std::vector<int64_t> CompletionLengths(const int32_t* targets, int64_t B, int64_t T);

struct PolicyPassInput {
  const int32_t* tokens = nullptr;
  const int32_t* targets = nullptr;
  int64_t B = 0, T = 0;
  const std::vector<double>* logp_old = nullptr;  // nullptr: on-policy (this pass's logp)
  const std::vector<double>* logp_ref = nullptr;  // needed when clip.beta != 0
  const std::vector<double>* advantages = nullptr;  // one per row
  ClipParams clip;
  LossType loss_type = LossType::kGrpo;
  BatchCounts counts;
};

struct PolicyPassResult {
  BatchLoss loss;
  std::vector<double> logp;  // this pass's completion-token log-probs
  double entropy_sum = 0;
  double aux_loss = 0;
};

// PolicyLogProbs: forward only (no saved state), the completion tokens'
// log-probs (π_old once per generation batch, or the reference model's).
absl::StatusOr<std::vector<double>> PolicyLogProbs(models::DeepseekV2Model* model,
                                                   const int32_t* tokens, const int32_t* targets,
                                                   int64_t B, int64_t T);

// GrpoForwardBackward: the loss, and with `backward` its gradient added to
// the model's gradient arena (MoE balance loss weighted by aux_scale;
// on_ready as in DeepseekV2Model::Backward, for the data-parallel
// reduction's overlap).
absl::StatusOr<PolicyPassResult> GrpoForwardBackward(
    models::DeepseekV2Model* model, const PolicyPassInput& in, bool backward,
    float aux_scale = 0, const models::GradReadyHook& on_ready = nullptr);

}  // namespace hs::rl

#endif  // HAISCALE_RL_POLICY_PASS_H_
