// File: models/cuda_model/model_ops.h
//
// The few device ops the single-GPU model needs that models/kernels/cuda
// does not have: glue between the fused kernels (MLA's k/v assembly and
// its gradient, the MoE combine weights, balance loss and score
// gradient) and an fp32 -> bf16 cast. Each mirrors, formula for formula,
// the CPU code named in its comment, with the same reduction order where
// the CPU has one. bf16 tensors are raw bits (launch.h's bf16_bits).
// Legend: N tokens, H heads, E routed experts, K experts per token,
// G balance-loss groups (B sequences with seq_aux, else 1), per = N/G.
//
// Usage:
//   MlaBuildKv(k, v, kv, kv_a, N, H, nope, rope, Dv, L, stream);
//   MoeGateWeights(w, topk, N, K, norm_topk_prob, routed_scaling, stream);
#ifndef MODELS_CUDA_MODEL_MODEL_OPS_H_
#define MODELS_CUDA_MODEL_MODEL_OPS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::models::cuda_model {

using kernels::cuda::bf16_bits;

// CastF32ToBf16: out[n] (=) = bf16(in[n]) (round to nearest even).
cudaError_t CastF32ToBf16(bf16_bits* out, const float* in, int64_t n,
                          cudaStream_t stream);

// MlaBuildKv (layers/mla.cc's CopyColumns): k[n,h] = [kv[n,h,:nope] |
// kv_a[n, L:L+rope]] (k_pe shared by all heads), v[n,h] = kv[n,h,nope:].
cudaError_t MlaBuildKv(bf16_bits* k, bf16_bits* v, const bf16_bits* kv,
                       const bf16_bits* kv_a, int64_t N, int64_t H,
                       int64_t nope, int64_t rope, int64_t Dv, int64_t L,
                       cudaStream_t stream);

// MlaKvGrad (Mla::Backward's split): dkv[n,h] = [dk[n,h,:nope] | dv[n,h]]
// and dkv_a[n, L+r] = bf16(sum_h dk[n,h,nope+r]) (fp32, head order).
// dkv_a[:, :L] is not touched.
cudaError_t MlaKvGrad(bf16_bits* dkv, bf16_bits* dkv_a, const bf16_bits* dk,
                      const bf16_bits* dv, int64_t N, int64_t H, int64_t nope,
                      int64_t rope, int64_t Dv, int64_t L, cudaStream_t stream);

// MoeGateWeights (Moe::Forward's combine weights):
//   normalize: w = s / (float(sum_k s, fp64) + 1e-20f)
//   else:      w = s * float(scaling)
cudaError_t MoeGateWeights(float* w, const float* topk, int64_t N, int64_t K,
                           bool normalize, double scaling, cudaStream_t stream);

// MoeAuxLoss (Moe::Forward's expert balance loss, one block per group):
//   f[g,e] = count(idx == e in group g) / (float(per*K) / float(E))   (=)
//   partial[g] = sum_e double(f[g,e]) * (sum_t scores[g*per+t, e] / per) (=)
// The layer's loss is alpha * sum_g partial[g] / G (on the host).
cudaError_t MoeAuxLoss(float* f, double* partial, const int32_t* idx,
                       const float* scores, int64_t G, int64_t per, int64_t E,
                       int64_t K, cudaStream_t stream);

// MoeScoresGrad (Moe::Backward): dscores[N,E] (=) =
//   through the combine weights (normalize: dw/S - <dw,s>/S^2 with
//   S = 1e-20 + sum_k s in fp64; else dw * float(scaling)) at idx[n,k],
//   plus float(aux_coef * f[g,e]) when f != nullptr (aux_coef =
//   alpha * aux_scale / (per * G), computed in double on the host).
cudaError_t MoeScoresGrad(float* dscores, const float* dw, const float* topk,
                          const int32_t* idx, const float* f, double aux_coef,
                          int64_t N, int64_t E, int64_t K, int64_t per,
                          bool normalize, double scaling, cudaStream_t stream);

}  // namespace hs::models::cuda_model

#endif  // MODELS_CUDA_MODEL_MODEL_OPS_H_
