// File: models/decode/mla_decode.h
//
// MLA attention for incremental decoding over a LatentKvCache.
//
// The new tokens' queries and latents come from the training layer's own
// projections (Mla::ProjectQuery / ProjectKvLatent) and are rotated at their
// positions in the sequence; each token appends [c_kv | k_pe] to the cache.
// With W_UK[h] [nope, L] and W_UV[h] [v, L] the two row blocks of head h in
// kv_b_proj.weight:
//   score(h, t) = scale * (q_nope[h] . W_UK[h] c_t + q_pe[h] . k_pe_t)
//               = scale * ([W_UK[h]^T q_nope[h] | q_pe[h]] . [c_t | k_pe_t])
//   out[h]      = sum_t p(h, t) W_UV[h] c_t = W_UV[h] (sum_t p(h, t) c_t)
// kAbsorbed computes exactly that: W_UK folds into the query (one L-wide
// vector per head), every head attends over the same cached rows (one GEMM
// per sequence for all heads and new tokens), and W_UV is applied to the
// L-wide attention result before o_proj — the cache is never expanded.
// kExpanded is the textbook path: kv_b_proj expands the cached latents to
// per-head keys and values, then ordinary attention (a reference for tests
// and what a per-head K/V cache would hold).
// Queries attend causally: a new token at position p sees cached tokens
// 0..p. The scale (YaRN mscale^2 included) is the training layer's.
// Legend: N new tokens in the step, C hidden, H heads, L kv_lora_rank,
// R qk_rope_head_dim, W = L + R, Dq = nope + R, Dv v_head_dim.
#ifndef MODELS_DECODE_MLA_DECODE_H_
#define MODELS_DECODE_MLA_DECODE_H_

#include <cstdint>
#include <vector>

#include "models/decode/latent_kv_cache.h"
#include "models/layers/mla.h"
#include "models/model_config.h"

namespace hs::models::decode {

enum class AttentionMode { kAbsorbed, kExpanded };

// DecodeSegment: `count` new tokens of cache slot `slot`, occupying rows
// [row, row + count) of the step's inputs, at positions length(slot) ...
struct DecodeSegment {
  int64_t slot = 0;
  int64_t row = 0;
  int64_t count = 0;
};

class MlaDecode {
 public:
  MlaDecode(const Mla& mla, const DeepseekV2Config& config);

  // Forward: out[N,C] (=) for the step's new rows h1[N,C] (the attention
  // input, after input_layernorm). Writes their cache rows of `layer`
  // (cache lengths are read, not advanced: the caller advances them once
  // every layer has run).
  void Forward(float* out, const float* h1, int64_t N, const std::vector<DecodeSegment>& segs,
               const RopeCache& rope, int64_t layer, LatentKvCache* cache,
               AttentionMode mode) const;

 private:
  // attn[N,H,Dv] (=) from the rotated queries q[N,H,Dq] and the cache.
  void AttendAbsorbed(float* attn, const float* q, int64_t N,
                      const std::vector<DecodeSegment>& segs, int64_t layer,
                      const LatentKvCache& cache) const;
  void AttendExpanded(float* attn, const float* q, const std::vector<DecodeSegment>& segs,
                      int64_t layer, const LatentKvCache& cache) const;

  const Mla* mla_;
  int64_t C_, H_, nope_, R_, dv_, L_;
  float scale_;
};

}  // namespace hs::models::decode

#endif  // MODELS_DECODE_MLA_DECODE_H_
