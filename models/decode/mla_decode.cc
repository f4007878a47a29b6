// File: models/decode/mla_decode.cc — see mla_decode.h.
#include "models/decode/mla_decode.h"

#include <algorithm>
#include <vector>

#include "haiscale/tensor.h"
#include "models/kernels/cpu/elementwise.h"
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/moe_gate.h"
#include "models/kernels/cpu/rope.h"

namespace hs::models::decode {

namespace kc = kernels::cpu;

namespace {

// CausalSoftmaxRows: scores[rows, len] in place; row r belongs to new token
// i = r / rows_per_token at position p0 + i, which sees keys 0..p0+i (the
// rest are set to 0 so the value GEMM can run over all `len` keys).
void CausalSoftmaxRows(float* scores, int64_t rows, int64_t rows_per_token, int64_t len,
                       int64_t p0) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = scores + r * len;
    const int64_t visible = p0 + r / rows_per_token + 1;
    kc::SoftmaxForward(row, row, 1, visible);
    std::fill(row + visible, row + len, 0.0f);
  }
}

}  // namespace

MlaDecode::MlaDecode(const Mla& mla, const DeepseekV2Config& config)
    : mla_(&mla),
      C_(config.hidden_size),
      H_(config.num_attention_heads),
      nope_(config.qk_nope_head_dim),
      R_(config.qk_rope_head_dim),
      dv_(config.v_head_dim),
      L_(config.kv_lora_rank),
      scale_(mla.softmax_scale()) {}

void MlaDecode::Forward(float* out, const float* h1, int64_t N,
                        const std::vector<DecodeSegment>& segs, const RopeCache& rope,
                        int64_t layer, LatentKvCache* cache, AttentionMode mode) const {
  const int64_t Dq = nope_ + R_, W = L_ + R_;
  MlaSaved s;
  mla_->ProjectQuery(h1, N, &s);
  mla_->ProjectKvLatent(h1, N, &s);
  float* q = s.q.data<float>();
  float* kv_a = s.kv_a.data<float>();
  const float* c_kv = s.c_kv_norm.data<float>();
  for (const DecodeSegment& g : segs) {
    const int64_t p0 = cache->length(g.slot);
    // Decoupled RoPE at the tokens' own positions p0, p0+1, ...
    float* qg = q + g.row * H_ * Dq + nope_;
    kc::RopeForward(qg, H_ * Dq, Dq, qg, H_ * Dq, Dq, rope.cos.data<float>(),
                    rope.sin.data<float>(), 1, g.count, H_, R_, p0);
    float* pe = kv_a + g.row * W + L_;
    kc::RopeForward(pe, W, 0, pe, W, 0, rope.cos.data<float>(), rope.sin.data<float>(), 1,
                    g.count, 1, R_, p0);
    float* dst = cache->rows(layer, g.slot) + p0 * W;
    kc::CopyColumns(dst, W, c_kv + g.row * L_, L_, g.count, L_);
    kc::CopyColumns(dst + L_, W, pe, W, g.count, R_);
  }
  Tensor attn = Tensor::Uninitialized({N, H_, dv_});
  if (mode == AttentionMode::kAbsorbed) {
    AttendAbsorbed(attn.data<float>(), q, N, segs, layer, *cache);
  } else {
    AttendExpanded(attn.data<float>(), q, segs, layer, *cache);
  }
  mla_->o_proj().Forward(out, attn.data<float>(), N);
}

void MlaDecode::AttendAbsorbed(float* attn, const float* q, int64_t N,
                               const std::vector<DecodeSegment>& segs, int64_t layer,
                               const LatentKvCache& cache) const {
  const int64_t Dq = nope_ + R_, W = L_ + R_, Dkv = nope_ + dv_;
  const float* w_kv = mla_->kv_b_proj().weight();  // [H*Dkv, L]: head h = W_UK[h] ; W_UV[h]
  // Latent queries [N, H, W]: W_UK[h]^T q_nope[h] | q_pe[h].
  Tensor q_lat = Tensor::Uninitialized({N, H_, W});
  float* ql = q_lat.data<float>();
  for (int64_t h = 0; h < H_; ++h) {
    kc::Gemm(false, false, N, L_, nope_, 1.0f, q + h * Dq, H_ * Dq, w_kv + h * Dkv * L_, L_,
             0.0f, ql + h * W, H_ * W);
  }
  kc::CopyColumns(ql + L_, W, q + nope_, Dq, N * H_, R_);
  // Per sequence: all heads of all its new tokens against its cached rows.
  Tensor o_lat = Tensor::Uninitialized({N, H_, L_});
  float* ol = o_lat.data<float>();
  const int64_t num_segs = int64_t(segs.size());
#pragma omp parallel for schedule(dynamic) if (num_segs > 1)
  for (int64_t i = 0; i < num_segs; ++i) {
    const DecodeSegment& g = segs[i];
    const int64_t p0 = cache.length(g.slot), len = p0 + g.count, rows = g.count * H_;
    const float* kv = cache.rows(layer, g.slot);
    std::vector<float> scores(rows * len);
    kc::Gemm(false, true, rows, len, W, scale_, ql + g.row * H_ * W, W, kv, W, 0.0f,
             scores.data(), len);
    CausalSoftmaxRows(scores.data(), rows, H_, len, p0);
    kc::Gemm(false, false, rows, L_, len, 1.0f, scores.data(), len, kv, W, 0.0f,
             ol + g.row * H_ * L_, L_);
  }
  // W_UV after attention: attn[:, h] = o_lat[:, h] W_UV[h]^T.
  for (int64_t h = 0; h < H_; ++h) {
    kc::Gemm(false, true, N, dv_, L_, 1.0f, ol + h * L_, H_ * L_,
             w_kv + (h * Dkv + nope_) * L_, L_, 0.0f, attn + h * dv_, H_ * dv_);
  }
}

void MlaDecode::AttendExpanded(float* attn, const float* q,
                               const std::vector<DecodeSegment>& segs, int64_t layer,
                               const LatentKvCache& cache) const {
  const int64_t Dq = nope_ + R_, W = L_ + R_, Dkv = nope_ + dv_;
  const float* w_kv = mla_->kv_b_proj().weight();
  for (const DecodeSegment& g : segs) {
    const int64_t p0 = cache.length(g.slot), len = p0 + g.count;
    const float* kv = cache.rows(layer, g.slot);
    // Per-head keys (nope part) and values of every cached token: [len, H, Dkv].
    std::vector<float> expanded(len * H_ * Dkv);
    kc::Gemm(false, true, len, H_ * Dkv, L_, 1.0f, kv, W, w_kv, L_, 0.0f, expanded.data(),
             H_ * Dkv);
    std::vector<float> scores(g.count * len);
    for (int64_t h = 0; h < H_; ++h) {
      const float* qh = q + g.row * H_ * Dq + h * Dq;
      kc::Gemm(false, true, g.count, len, nope_, scale_, qh, H_ * Dq,
               expanded.data() + h * Dkv, H_ * Dkv, 0.0f, scores.data(), len);
      kc::Gemm(false, true, g.count, len, R_, scale_, qh + nope_, H_ * Dq, kv + L_, W, 1.0f,
               scores.data(), len);
      CausalSoftmaxRows(scores.data(), g.count, 1, len, p0);
      kc::Gemm(false, false, g.count, dv_, len, 1.0f, scores.data(), len,
               expanded.data() + h * Dkv + nope_, H_ * Dkv, 0.0f,
               attn + g.row * H_ * dv_ + h * dv_, H_ * dv_);
    }
  }
}

}  // namespace hs::models::decode
