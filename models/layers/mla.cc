// File: models/layers/mla.cc — see mla.h.
#include "models/layers/mla.h"

#include <cmath>
#include <optional>
#include <vector>

#include "models/kernels/cpu/attention.h"
#include "models/kernels/cpu/elementwise.h"
#include "models/kernels/cpu/rope.h"
#include "models/profile/op_profile.h"

namespace hs::models {

namespace kc = kernels::cpu;

RopeCache RopeCache::Build(const DeepseekV2Config& config, int64_t max_T) {
  RopeCache cache;
  cache.max_T = max_T;
  cache.dim = config.qk_rope_head_dim;
  std::vector<float> inv_freq =
      kc::RopeInvFreq(cache.dim, config.rope_theta, config.rope_scaling);
  cache.cos = Tensor::Empty({max_T, cache.dim / 2});
  cache.sin = Tensor::Empty({max_T, cache.dim / 2});
  kc::RopeTables(cache.cos.data<float>(), cache.sin.data<float>(), inv_freq,
                 max_T, kc::RopeCosSinScale(config.rope_scaling));
  return cache;
}

float MlaSoftmaxScale(const DeepseekV2Config& config) {
  double scale = 1.0 / std::sqrt(double(config.q_head_dim()));
  const auto& rs = config.rope_scaling;
  if (rs.yarn && rs.mscale_all_dim != 0.0) {
    double mscale = kc::YarnGetMscale(rs.factor, rs.mscale_all_dim);
    scale *= mscale * mscale;  // deepseek-ai squares it (docs/model.md)
  }
  return float(scale);
}

Mla::Mla(ParamArena& arena, const std::string& name,
         const DeepseekV2Config& config)
    : C_(config.hidden_size),
      H_(config.num_attention_heads),
      nope_(config.qk_nope_head_dim),
      rope_(config.qk_rope_head_dim),
      dv_(config.v_head_dim),
      L_(config.kv_lora_rank),
      Q_(config.q_lora_rank),
      scale_(MlaSoftmaxScale(config)),
      q_lora_(config.q_lora_rank > 0) {
  const float std = float(config.initializer_range);
  const int64_t Dq = nope_ + rope_;
  // Registration order = HF's module order (checkpoints list it this way).
  if (q_lora_) {
    q_a_proj_ = Linear(arena, name + ".q_a_proj", C_, Q_, std);
    q_a_norm_ = RmsNorm(arena, name + ".q_a_layernorm", Q_, kLatentNormEps);
    q_b_proj_ = Linear(arena, name + ".q_b_proj", Q_, H_ * Dq, std);
  } else {
    q_proj_ = Linear(arena, name + ".q_proj", C_, H_ * Dq, std);
  }
  kv_a_proj_ = Linear(arena, name + ".kv_a_proj_with_mqa", C_, L_ + rope_, std);
  kv_a_norm_ = RmsNorm(arena, name + ".kv_a_layernorm", L_, kLatentNormEps);
  kv_b_proj_ = Linear(arena, name + ".kv_b_proj", L_, H_ * (nope_ + dv_), std);
  o_proj_ = Linear(arena, name + ".o_proj", H_ * dv_, C_, std);
}

void Mla::ProjectQuery(const float* x, int64_t N, MlaSaved* s) const {
  s->q = Tensor::Uninitialized({N, H_, nope_ + rope_});
  if (q_lora_) {
    s->q_a = Tensor::Uninitialized({N, Q_});
    s->q_a_rstd = Tensor::Uninitialized({N});
    s->q_a_norm = Tensor::Uninitialized({N, Q_});
    q_a_proj_.Forward(s->q_a.data<float>(), x, N);
    q_a_norm_.Forward(s->q_a_norm.data<float>(), s->q_a_rstd.data<float>(),
                      s->q_a.data<float>(), N);
    q_b_proj_.Forward(s->q.data<float>(), s->q_a_norm.data<float>(), N);
  } else {
    q_proj_.Forward(s->q.data<float>(), x, N);
  }
}

void Mla::ProjectKvLatent(const float* x, int64_t N, MlaSaved* s) const {
  s->kv_a = Tensor::Uninitialized({N, L_ + rope_});
  kv_a_proj_.Forward(s->kv_a.data<float>(), x, N);
  s->c_kv = Tensor::Uninitialized({N, L_});
  s->c_kv_rstd = Tensor::Uninitialized({N});
  s->c_kv_norm = Tensor::Uninitialized({N, L_});
  kc::CopyColumns(s->c_kv.data<float>(), L_, s->kv_a.data<float>(), L_ + rope_, N, L_);
  kv_a_norm_.Forward(s->c_kv_norm.data<float>(), s->c_kv_rstd.data<float>(),
                     s->c_kv.data<float>(), N);
}

void Mla::Forward(float* out, const float* x, int64_t B, int64_t T,
                  const RopeCache& rope, MlaSaved* s, const int32_t* positions) const {
  const int64_t N = B * T, Dq = nope_ + rope_, Dkv = nope_ + dv_;
  std::optional<OpTimer> timer;
  // ---- queries: q [N, H, Dq]
  timer.emplace("mla.q_proj");
  ProjectQuery(x, N, s);
  timer.emplace("mla.rope");
  float* q = s->q.data<float>();
  // Decoupled RoPE on q's rope slice, in place: token stride H*Dq, head stride Dq.
  kc::RopeForward(q + nope_, H_ * Dq, Dq, q + nope_, H_ * Dq, Dq,
                  rope.cos.data<float>(), rope.sin.data<float>(), B, T, H_,
                  rope_, 0, positions);
  // ---- keys/values through the latent (k_pe rotated after c_kv is copied
  // out: the two column ranges are independent)
  timer.emplace("mla.kv_proj");
  ProjectKvLatent(x, N, s);
  float* kv_a = s->kv_a.data<float>();
  timer.emplace("mla.rope");
  kc::RopeForward(kv_a + L_, L_ + rope_, 0, kv_a + L_, L_ + rope_, 0,
                  rope.cos.data<float>(), rope.sin.data<float>(), B, T, 1,
                  rope_, 0, positions);
  timer.emplace("mla.kv_proj");
  s->kv = Tensor::Uninitialized({N, H_, Dkv});
  kv_b_proj_.Forward(s->kv.data<float>(), s->c_kv_norm.data<float>(), N);
  timer.emplace("mla.kv_split");
  // k = [k_nope | k_pe broadcast over heads], v = kv[..., nope:]
  s->k = Tensor::Uninitialized({N, H_, Dq});
  s->v = Tensor::Uninitialized({N, H_, dv_});
  float* k = s->k.data<float>();
  const float* kv = s->kv.data<float>();
  kc::CopyColumns(k, Dq, kv, Dkv, N * H_, nope_);
  kc::CopyColumns(s->v.data<float>(), dv_, kv + nope_, Dkv, N * H_, dv_);
  kc::BroadcastColumns(k + nope_, H_ * Dq, Dq, H_, kv_a + L_, L_ + rope_, N, rope_);
  // ---- attention and output projection
  timer.emplace("mla.attention");
  s->attn = Tensor::Uninitialized({N, H_, dv_});
  s->lse = Tensor::Uninitialized({B, H_, T});
  kc::AttentionForward(s->attn.data<float>(), s->lse.data<float>(), q, k,
                       s->v.data<float>(), B, T, H_, Dq, dv_, scale_, positions);
  timer.emplace("mla.o_proj");
  o_proj_.Forward(out, s->attn.data<float>(), N);
}

void Mla::Backward(float* dx, const float* dout, const float* x, int64_t B,
                   int64_t T, const RopeCache& rope, const MlaSaved& s,
                   const int32_t* positions, bool overwrite_dx) const {
  const int64_t N = B * T, Dq = nope_ + rope_, Dkv = nope_ + dv_;
  std::optional<OpTimer> timer;
  // ---- o_proj
  timer.emplace("mla.o_proj");
  Tensor dattn = Tensor::Uninitialized({N, H_, dv_});
  o_proj_.Backward(dattn.data<float>(), /*accumulate_dinp=*/false, dout, s.attn.data<float>(), N);
  // ---- attention
  timer.emplace("mla.attention");
  Tensor dq = Tensor::Uninitialized({N, H_, Dq});
  Tensor dk = Tensor::Uninitialized({N, H_, Dq});
  Tensor dv = Tensor::Uninitialized({N, H_, dv_});
  kc::AttentionBackward(dq.data<float>(), dk.data<float>(), dv.data<float>(),
                        dattn.data<float>(), s.q.data<float>(),
                        s.k.data<float>(), s.v.data<float>(),
                        s.attn.data<float>(), s.lse.data<float>(), B, T, H_, Dq,
                        dv_, scale_, positions);
  // ---- split dk/dv back into the kv_b output and the shared k_pe
  timer.emplace("mla.kv_split");
  Tensor dkv = Tensor::Uninitialized({N, H_, Dkv});
  kc::CopyColumns(dkv.data<float>(), Dkv, dk.data<float>(), Dq, N * H_, nope_);
  kc::CopyColumns(dkv.data<float>() + nope_, Dkv, dv.data<float>(), dv_, N * H_,
                  dv_);
  Tensor dkv_a = Tensor::Uninitialized({N, L_ + rope_});
  float* dkv_a_p = dkv_a.data<float>();
  // k_pe is shared by all heads: its gradient is the sum over heads (head 0
  // is copied, the rest added in head order: the same sums as adding into
  // zeros, and dkv_a needs no zero fill).
  kc::SumColumnGroups(dkv_a_p + L_, L_ + rope_, dk.data<float>() + nope_, H_ * Dq, Dq, H_, N,
                      rope_);
  timer.emplace("mla.rope");
  kc::RopeBackward(dkv_a_p + L_, L_ + rope_, 0, dkv_a_p + L_, L_ + rope_, 0,
                   rope.cos.data<float>(), rope.sin.data<float>(), B, T, 1,
                   rope_, 0, positions);
  // ---- kv_b_proj and the latent norm
  timer.emplace("mla.kv_proj");
  Tensor dc_kv_norm = Tensor::Uninitialized({N, L_});
  kv_b_proj_.Backward(dc_kv_norm.data<float>(), /*accumulate_dinp=*/false, dkv.data<float>(),
                      s.c_kv_norm.data<float>(), N);
  Tensor dc_kv = Tensor::Empty({N, L_});
  kv_a_norm_.Backward(dc_kv.data<float>(), dc_kv_norm.data<float>(),
                      s.c_kv.data<float>(), s.c_kv_rstd.data<float>(), N);
  kc::CopyColumns(dkv_a_p, L_ + rope_, dc_kv.data<float>(), L_, N, L_);
  // dx's first term: kv_a's input gradient (then the query path's).
  kv_a_proj_.Backward(dx, /*accumulate_dinp=*/!overwrite_dx, dkv_a_p, x, N);
  // ---- queries: undo RoPE on dq's rope slice, then the q path
  float* dq_p = dq.data<float>();
  timer.emplace("mla.rope");
  kc::RopeBackward(dq_p + nope_, H_ * Dq, Dq, dq_p + nope_, H_ * Dq, Dq,
                   rope.cos.data<float>(), rope.sin.data<float>(), B, T, H_,
                   rope_, 0, positions);
  timer.emplace("mla.q_proj");
  if (q_lora_) {
    Tensor dq_a_norm = Tensor::Uninitialized({N, Q_});
    q_b_proj_.Backward(dq_a_norm.data<float>(), /*accumulate_dinp=*/false, dq_p,
                       s.q_a_norm.data<float>(), N);
    Tensor dq_a = Tensor::Empty({N, Q_});
    q_a_norm_.Backward(dq_a.data<float>(), dq_a_norm.data<float>(),
                       s.q_a.data<float>(), s.q_a_rstd.data<float>(), N);
    q_a_proj_.Backward(dx, /*accumulate_dinp=*/true, dq_a.data<float>(), x, N);
  } else {
    q_proj_.Backward(dx, /*accumulate_dinp=*/true, dq_p, x, N);
  }
}

double Mla::FlopsPerToken(int64_t T) const {
  const int64_t Dq = nope_ + rope_;
  double gemm = q_lora_ ? double(C_) * Q_ + double(Q_) * H_ * Dq
                        : double(C_) * H_ * Dq;
  gemm += double(C_) * (L_ + rope_) + double(L_) * H_ * (nope_ + dv_) +
          double(H_) * dv_ * C_;
  // Causal attention: on average (T+1)/2 keys per query.
  double attn = double(H_) * (Dq + dv_) * (double(T) + 1) / 2;
  return 2.0 * (gemm + attn);
}

}  // namespace hs::models
