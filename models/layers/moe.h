// File: models/layers/moe.h
//
// DeepSeekMoE layer (arXiv:2401.06066; HF deepseek-ai DeepseekV2MoE):
//   scores = softmax(x Wg^T)                      [N, E]   (fp32)
//   idx, s = top-k(scores)  (greedy | group_limited_greedy)
//   w      = s / (sum_k s + 1e-20)       if K > 1 and norm_topk_prob
//          = s * routed_scaling_factor   otherwise   (deepseek-ai's rule)
//   y      = sum_k w_k * expert_{idx_k}(x) + shared_experts(x)
// plus the expert-level balance loss (DeepSeek-V2 §2.2.3). With seq_aux:
//   f[b,e] = E/(K*T) * #{t : e in top-k(b,t)}, P[b,e] = mean_t scores[b,t,e]
//   aux    = alpha * mean_b sum_e f[b,e] * P[b,e]
// (f is a count: no gradient flows through it, as in the reference).
// Without seq_aux the same over all N tokens at once.
//
// Expert-parallel extensions (DeepSeek-V2 §2.2.2-2.2.3, docs/expert_parallel.md),
// all off by default (then the layer computes exactly what it did without them):
//  * device-limited routing: the E experts form `ep_devices` contiguous
//    blocks; each token picks the `device_limit` (M) devices of its best
//    experts, then top-K among their experts;
//  * device-level balance loss, D = ep_devices, E_i = experts of device i:
//      f'[g,i] = mean_{e in E_i} f[g,e],  P'[g,i] = sum_{e in E_i} P[g,e]
//      aux_device = alpha2 * mean_g sum_i f'[g,i] P'[g,i]
//  * communication balance loss, M' = M if device_limit > 0 else min(K, D):
//      f''[g,i] = D/(M'*T) * #{t : token t sends a slot to device i}
//      aux_comm = alpha3 * mean_g sum_i f''[g,i] P'[g,i]
//    (g = sequences with seq_aux, the whole micro-batch without, as for aux;
//    f' and f'' are counts: gradients flow through P only);
//  * capacity: per expert at most ceil(capacity_factor * N*K / E) of this
//    call's N*K slots are kept, in (token, k) order; later ones are dropped
//    (their expert output is zero, no gradient reaches them).
// Routed experts go through an ExpertDispatcher, so parallel/ can shard them.
// Legend: N = B*T tokens, C hidden, E routed experts, K = experts per token.
#ifndef MODELS_LAYERS_MOE_H_
#define MODELS_LAYERS_MOE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "haiscale/tensor.h"
#include "models/layers/mlp.h"
#include "models/model_config.h"
#include "models/moe/expert_dispatcher.h"
#include "models/param_arena.h"

namespace hs::models {

struct MoeSaved {
  Tensor scores;       // [N,E] softmax of the router logits
  Tensor idx;          // [N,K] i32 selected experts
  Tensor topk_scores;  // [N,K] their scores
  Tensor weights;      // [N,K] combine weights
  Tensor aux_f;        // [B,E] (seq_aux) or [1,E]: the f term
  double aux_loss = 0;
  DispatchPlan plan;
  Tensor expert_in;    // [R,C]
  Tensor gate_up;      // [R,2I]
  Tensor act;          // [R,I]
  Tensor expert_out;   // [R,C]
  // [N*K,C] expert outputs in slot order; not kept when the combine reads
  // expert_out in place (the local dispatcher without a capacity).
  Tensor slot_out;
  MlpSaved shared;
  // Per-expert token counts of this forward (load statistics, [E], routing
  // decisions before any capacity drop).
  std::vector<int64_t> expert_load;
  // The parts of aux_loss: expert-, device- and communication-level.
  double aux_expert = 0, aux_device = 0, aux_comm = 0;
  Tensor dev_f;   // [groups, D] f'  (when device_balance_alpha > 0)
  Tensor comm_f;  // [groups, D] f'' (when comm_balance_alpha > 0)
  // Capacity (capacity_factor > 0): the kept slots n*K+k in increasing
  // order (the dispatcher saw only these, as K = 1 rows); dropped per
  // expert [E] and in total. Empty / 0 without capacity.
  std::vector<int64_t> kept_slots;
  std::vector<int64_t> expert_dropped;
  int64_t dropped = 0;
  void Clear() { *this = MoeSaved(); }
};

// CheckMoeRouting(config): the expert-parallel routing knobs are consistent
// (ep_devices divides E, 0 <= device_limit <= ep_devices, K fits in the M
// devices, device_limit not combined with group_limited_greedy, alphas and
// capacity_factor >= 0). Moe::Forward returns this error. An invariant of
// the model, not user-input validation: config/validate.cc checks the
// fields users write (parallel.ep_device_limit, ...) first, and these
// messages name those fields so a config that slips past says what to fix.
absl::Status CheckMoeRouting(const DeepseekV2Config& config);

// ExpertCapacity(capacity_factor, N, K, E): ceil(capacity_factor * N*K / E),
// the slots one expert accepts from this call's N tokens.
int64_t ExpertCapacity(double capacity_factor, int64_t N, int64_t K, int64_t E);

// CapacityKeep: walks the N*K slots in (token, k) order and keeps a slot
// while its expert has taken fewer than `capacity` slots: later tokens are
// dropped first, deterministically. kept (=) gets the kept slot indices in
// increasing order; dropped_per_expert (=) [E] the dropped counts.
void CapacityKeep(const int32_t* idx, int64_t N, int64_t K, int64_t E,
                  int64_t capacity, std::vector<int64_t>* kept,
                  std::vector<int64_t>* dropped_per_expert);

class Moe {
 public:
  Moe() = default;
  // `dispatcher` decides which experts are local; only those are
  // registered in the arena (all of them for the local dispatcher).
  Moe(ParamArena& arena, const std::string& name,
      const DeepseekV2Config& config, ExpertDispatcher* dispatcher);

  // Forward: out[N,C] (=); saved->aux_loss is this layer's balance loss.
  absl::Status Forward(float* out, const float* x, int64_t B, int64_t T,
                       MoeSaved* saved) const;
  // Backward: dx (+=, or = with overwrite_dx), grads (+=). `aux_scale`
  // multiplies the balance loss's gradient (the trainer's share of this
  // micro-batch).
  absl::Status Backward(float* dx, const float* dout, const float* x,
                        int64_t B, int64_t T, float aux_scale,
                        const MoeSaved& saved, bool overwrite_dx = false) const;

  // Forward FLOPs per token (router + K routed + shared experts).
  double FlopsPerToken() const;

 private:
  void DeviceBalanceLosses(int64_t B, int64_t T, MoeSaved* s) const;
  absl::Status CombineIntoSlots(int64_t N, bool capped, MoeSaved* s) const;

  int64_t C_, E_, K_, I_;
  DeepseekV2Config config_;
  ExpertDispatcher* dispatcher_ = nullptr;
  ParamArena* arena_ = nullptr;
  ParamId gate_ = -1;
  std::vector<Mlp> experts_;  // local experts only
  absl::Status routing_status_;  // CheckMoeRouting(config_)
  bool has_shared_ = false;
  Mlp shared_;
};

}  // namespace hs::models

#endif  // MODELS_LAYERS_MOE_H_
