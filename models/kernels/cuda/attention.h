// File: models/kernels/cuda/attention.h
//
// Causal multi-head attention, FlashAttention-2 style (Dao 2023): bf16 q,
// k, v, out; fp32 scores, softmax statistics and accumulators; tensor cores
// through WMMA (16x16x16 bf16 -> fp32). No T x T score matrix exists: a
// block owns one tile of rows and streams the other side's tiles through
// shared memory with an online softmax. MLA's q/k and v head sizes differ
// (DeepSeek-V2: Dk = 128 + 64 = 192, Dv = 128; small configs 48/32, 24/16).
// CPU twin: models/kernels/cpu/attention.h (same shapes, same math).
// Legend: B batch, T sequence, H heads, Dk q/k head dim, Dv v head dim.
// Layouts: q, k [B,T,H,Dk]; v, out, dout [B,T,H,Dv]; lse, dsum [B,H,T].
//
// Forward (one block per (b, h, 64 queries), 64-key tiles):
//   s_ij = scale * q_i.k_j (j <= i);  m_i, l_i running max and sum
//   out_i = sum_j exp(s_ij - m_i) v_j / l_i;  lse_i = m_i + log(l_i)
// P enters the P.V product rounded to bf16 (as in FlashAttention); l sums
// the unrounded fp32 values.
// Backward, P recomputed from lse, all gradients (=) and deterministic
// (every output element is owned by one block; no atomics):
//   dsum_i = sum_e dout_ie * out_ie                        (row-dot kernel)
//   dK/dV kernel, one block per (b, h, 32 keys), 64-query tiles t >= k0:
//     dV_j = sum_i P_ij dout_i;  dK_j = scale * sum_i dS_ij q_i
//   dQ kernel, one block per (b, h, 64 queries), 32-key tiles:
//     dQ_i = scale * sum_j dS_ij k_j
//   with dS_ij = P_ij (dout_i.v_j - dsum_i), rounded to bf16 for the MMA.
// Packed documents: with `positions` (device, int32 [B,T]: each token's
// offset in its document, 0 at a document start) query t sees only keys
// [t - positions[b,t], t] (block-diagonal causal, no materialised mask);
// tiles no query of a tile can see are skipped. nullptr = plain causal.
// Supported: 1 <= Dk, Dv <= 256 (launch.h, AttentionForwardPlan); the
// launch fails with cudaErrorInvalidValue when the tiles do not fit the
// device's shared memory (192/128 needs <= 136 KiB: fits A100 and H100).
//
// Usage:
//   AttentionForward(out, lse, q, k, v, B, T, H, 192, 128, 1/sqrt(192.f), s);
//   AttentionBackward(dq, dk, dv, dsum, dout, q, k, v, out, lse,
//                     B, T, H, 192, 128, 1/sqrt(192.f), s);
#ifndef MODELS_KERNELS_CUDA_ATTENTION_H_
#define MODELS_KERNELS_CUDA_ATTENTION_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

// AttentionForward: out (=, bf16) and lse (=, fp32) from q, k, v.
cudaError_t AttentionForward(bf16_bits* out, float* lse, const bf16_bits* q,
                             const bf16_bits* k, const bf16_bits* v,
                             int64_t B, int64_t T, int64_t H, int64_t Dk,
                             int64_t Dv, float scale, cudaStream_t stream,
                             const int32_t* positions = nullptr);

// AttentionBackward: dq, dk, dv (=, bf16, shapes of q, k, v) from dout and
// the forward's out and lse. `dsum` is fp32 scratch of B*H*T elements
// (receives rowsum(dout * out)).
cudaError_t AttentionBackward(bf16_bits* dq, bf16_bits* dk, bf16_bits* dv,
                              float* dsum, const bf16_bits* dout,
                              const bf16_bits* q, const bf16_bits* k,
                              const bf16_bits* v, const bf16_bits* out,
                              const float* lse, int64_t B, int64_t T,
                              int64_t H, int64_t Dk, int64_t Dv, float scale,
                              cudaStream_t stream, const int32_t* positions = nullptr);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_ATTENTION_H_
