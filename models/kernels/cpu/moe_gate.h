// File: models/kernels/cpu/moe_gate.h
//
// DeepSeekMoE gating pieces: row softmax over experts and top-k selection,
// greedy or DeepSeek-V2's group-limited greedy (modeling_deepseek.py,
// topk_method "group_limited_greedy": score each of n_group groups by its
// best expert, keep the topk_group best groups, then take the top-k experts
// among those groups only).
// Legend: N = tokens, E = routed experts, K = experts per token.
#ifndef MODELS_KERNELS_CPU_MOE_GATE_H_
#define MODELS_KERNELS_CPU_MOE_GATE_H_

#include <cstdint>

namespace hs::kernels::cpu {

// SoftmaxForward: probs[N,E] (=) = softmax(logits) row-wise (fp32, max-shifted).
void SoftmaxForward(float* probs, const float* logits, int64_t N, int64_t E);

// SoftmaxBackward: dlogits[N,E] (=) = probs * (dprobs - sum_e dprobs*probs).
void SoftmaxBackward(float* dlogits, const float* dprobs, const float* probs,
                     int64_t N, int64_t E);

// TopKSelect: idx[N,K] (=), weight[N,K] (= the selected scores), in
// descending score order; ties go to the lower expert index.
// group_limited: only experts of the topk_group best groups (group score =
// max score in the group; E divisible by n_group) are eligible.
void TopKSelect(int32_t* idx, float* weight, const float* scores, int64_t N,
                int64_t E, int64_t K, bool group_limited, int64_t n_group,
                int64_t topk_group);

// TopKSelectDeviceLimited: DeepSeek-V2's device-limited routing (§2.2.2).
// The E experts sit on `devices` devices in contiguous blocks of E/devices;
// per token the `device_limit` (M) devices holding its highest-affinity
// experts are chosen (device score = its best expert's score; ties to the
// lower device), then the top-K among the experts of those devices. This is
// group-limited greedy with n_group = devices and topk_group = M. Needs
// K <= M * E/devices.
void TopKSelectDeviceLimited(int32_t* idx, float* weight, const float* scores,
                             int64_t N, int64_t E, int64_t K, int64_t devices,
                             int64_t device_limit);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_MOE_GATE_H_
