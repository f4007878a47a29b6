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
  Tensor slot_out;     // [N*K,C]
  MlpSaved shared;
  // Per-expert token counts of this forward (load statistics).
  std::vector<int64_t> expert_load;
  void Clear() { *this = MoeSaved(); }
};

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
  // Backward: dx (+=), grads (+=). `aux_scale` multiplies the balance
  // loss's gradient (the trainer's share of this micro-batch).
  absl::Status Backward(float* dx, const float* dout, const float* x,
                        int64_t B, int64_t T, float aux_scale,
                        const MoeSaved& saved) const;

  // Forward FLOPs per token (router + K routed + shared experts).
  double FlopsPerToken() const;

 private:
  int64_t C_, E_, K_, I_;
  DeepseekV2Config config_;
  ExpertDispatcher* dispatcher_ = nullptr;
  ParamArena* arena_ = nullptr;
  ParamId gate_ = -1;
  std::vector<Mlp> experts_;  // local experts only
  bool has_shared_ = false;
  Mlp shared_;
};

}  // namespace hs::models

#endif  // MODELS_LAYERS_MOE_H_
