// File: models/kernels/cpu/attention.h
//
// Causal multi-head attention, flash-attention style on the CPU: queries in
// blocks, keys/values streamed in blocks with an online softmax, so no more
// than one block of scores (Bq x Bk per thread) ever exists. The forward
// saves only the output and the log-sum-exp per query row; the backward
// recomputes the scores block by block (FlashAttention-2, Dao 2023).
// MLA uses different q/k and v head sizes (Dk = qk_nope + qk_rope, Dv).
// Legend: B batch, T sequence, H heads, Dk q/k head dim, Dv v head dim.
//
// Packed documents: with `positions` [B,T] (each token's offset in its
// document, 0 at a document start, positions[b,t] <= t), query t attends
// only to keys s in [t - positions[b,t], t]: block-diagonal causal
// attention without a materialised mask. Key blocks wholly outside a
// query block's documents are skipped. nullptr = plain causal attention.
#ifndef MODELS_KERNELS_CPU_ATTENTION_H_
#define MODELS_KERNELS_CPU_ATTENTION_H_

#include <cstdint>

namespace hs::kernels::cpu {

// AttentionForward:
//   q, k: [B,T,H,Dk]; v: [B,T,H,Dv]; out: [B,T,H,Dv] (=); lse: [B,H,T] (=)
//   out[b,t,h] = sum_{s<=t} softmax_s(scale * q[b,t,h].k[b,s,h]) v[b,s,h]
void AttentionForward(float* out, float* lse, const float* q, const float* k,
                      const float* v, int64_t B, int64_t T, int64_t H,
                      int64_t Dk, int64_t Dv, float scale,
                      const int32_t* positions = nullptr);

// AttentionBackward: dq, dk, dv (=, same shapes as q, k, v) from dout and
// the saved out and lse.
void AttentionBackward(float* dq, float* dk, float* dv, const float* dout,
                       const float* q, const float* k, const float* v,
                       const float* out, const float* lse, int64_t B,
                       int64_t T, int64_t H, int64_t Dk, int64_t Dv,
                       float scale, const int32_t* positions = nullptr);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_ATTENTION_H_
