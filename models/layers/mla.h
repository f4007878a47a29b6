// File: models/layers/mla.h
//
// Multi-head Latent Attention (DeepSeek-V2, arXiv:2405.04434 §2.1), with
// Hugging Face deepseek-ai/modeling_deepseek.py semantics:
//
//   q      = q_proj(x)                          (q_lora_rank null)
//          | q_b_proj(q_a_layernorm(q_a_proj(x)))
//   q      -> [N, H, nope + rope];  rope part rotated (decoupled RoPE)
//   kv_a   = kv_a_proj_with_mqa(x)              [N, kv_lora + rope]
//   c_kv   = kv_a_layernorm(kv_a[:, :kv_lora])  (the latent, what a KV cache keeps)
//   k_pe   = rope(kv_a[:, kv_lora:])            (one head, shared by all heads)
//   kv     = kv_b_proj(c_kv)                    [N, H, nope + v]
//   k      = [kv.nope | k_pe],  v = kv.v
//   out    = o_proj(causal_softmax(scale * q k^T) v)
//   scale  = (nope + rope)^-0.5 * mscale^2, mscale = yarn_get_mscale(factor,
//            mscale_all_dim) when rope_scaling is YaRN with mscale_all_dim.
// Legend: B batch, T sequence, N = B*T, C hidden, H heads,
// Dq = nope + rope, Dv = v_head_dim, L = kv_lora_rank, Q = q_lora_rank.
#ifndef MODELS_LAYERS_MLA_H_
#define MODELS_LAYERS_MLA_H_

#include <cstdint>
#include <string>

#include "haiscale/tensor.h"
#include "models/layers/linear.h"
#include "models/layers/rms_norm.h"
#include "models/model_config.h"
#include "models/param_arena.h"

namespace hs::models {

// RopeCache: cos/sin tables [max_T, rope/2] shared by every MLA layer.
struct RopeCache {
  Tensor cos, sin;
  int64_t max_T = 0;
  int64_t dim = 0;
  static RopeCache Build(const DeepseekV2Config& config, int64_t max_T);
};

// SoftmaxScale(config): the attention scale, YaRN mscale^2 included.
float MlaSoftmaxScale(const DeepseekV2Config& config);

struct MlaSaved {
  Tensor q_a, q_a_rstd, q_a_norm;  // [N,Q], [N], [N,Q] (q_lora only)
  Tensor q;                        // [N,H,Dq] rope part already rotated
  Tensor kv_a;                     // [N,L+rope], rope part rotated
  Tensor c_kv, c_kv_rstd, c_kv_norm;  // [N,L], [N], [N,L]
  Tensor kv;                       // [N,H,nope+Dv]
  Tensor k, v;                     // [N,H,Dq], [N,H,Dv]
  Tensor attn, lse;                // [N,H,Dv], [B,H,T]
  void Clear() { *this = MlaSaved(); }
};

class Mla {
 public:
  Mla() = default;
  Mla(ParamArena& arena, const std::string& name,
      const DeepseekV2Config& config);

  // Forward: out[N,C] (=) from x[N,C]. With `positions` [B,T] (packed
  // documents: each token's offset in its document) RoPE uses them and
  // attention stays within each document (kernels/cpu/attention.h);
  // nullptr = positions 0..T-1, one causal sequence per row.
  void Forward(float* out, const float* x, int64_t B, int64_t T,
               const RopeCache& rope, MlaSaved* saved,
               const int32_t* positions = nullptr) const;
  // Backward: dx[N,C] (+=, or = with overwrite_dx), parameter grads (+=);
  // the Forward's positions.
  void Backward(float* dx, const float* dout, const float* x, int64_t B,
                int64_t T, const RopeCache& rope, const MlaSaved& saved,
                const int32_t* positions = nullptr, bool overwrite_dx = false) const;

  // Forward FLOPs per token at sequence length T (causal attention averaged).
  double FlopsPerToken(int64_t T) const;

  // The projections Forward starts with, shared with the decode path
  // (models/decode), which rotates at its own positions:
  // ProjectQuery: s->q [N,H,Dq] (=, RoPE not applied; q_lora: also q_a*).
  void ProjectQuery(const float* x, int64_t N, MlaSaved* s) const;
  // ProjectKvLatent: s->kv_a [N,L+rope] (=, RoPE not applied), s->c_kv,
  // c_kv_rstd and c_kv_norm (the normalised latent).
  void ProjectKvLatent(const float* x, int64_t N, MlaSaved* s) const;
  // Parameter views for the decode path.
  const Linear& kv_b_proj() const { return kv_b_proj_; }
  const Linear& o_proj() const { return o_proj_; }
  float softmax_scale() const { return scale_; }

 private:
  int64_t C_, H_, nope_, rope_, dv_, L_, Q_;
  float scale_;
  bool q_lora_;
  Linear q_proj_, q_a_proj_, q_b_proj_;
  RmsNorm q_a_norm_;
  Linear kv_a_proj_;
  RmsNorm kv_a_norm_;
  Linear kv_b_proj_;
  Linear o_proj_;
};

}  // namespace hs::models

#endif  // MODELS_LAYERS_MLA_H_
