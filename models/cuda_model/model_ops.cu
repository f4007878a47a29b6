// File: models/cuda_model/model_ops.cu — see model_ops.h.
#include "models/cuda_model/model_ops.h"

#include <cuda_bf16.h>

#include <algorithm>

namespace hs::models::cuda_model {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 256;

// Grid for a grid-stride loop over n elements (at most 65536 blocks).
unsigned Blocks(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 65536)));
}

const bf16* B16(const bf16_bits* p) { return reinterpret_cast<const bf16*>(p); }
bf16* B16(bf16_bits* p) { return reinterpret_cast<bf16*>(p); }

__global__ void CastKernel(bf16* out, const float* in, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16_rn(in[i]);
  }
}

// One thread per element of k (Dq per head) and v (Dv per head).
__global__ void BuildKvKernel(bf16* k, bf16* v, const bf16* kv, const bf16* kv_a, int64_t N,
                              int64_t H, int64_t nope, int64_t rope, int64_t Dv, int64_t L) {
  const int64_t Dq = nope + rope, Dkv = nope + Dv, W = Dq + Dv;
  const int64_t total = N * H * W;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t nh = i / W, c = i % W, n = nh / H;
    if (c < nope) {
      k[nh * Dq + c] = kv[nh * Dkv + c];
    } else if (c < Dq) {
      k[nh * Dq + c] = kv_a[n * (L + rope) + L + (c - nope)];
    } else {
      v[nh * Dv + (c - Dq)] = kv[nh * Dkv + nope + (c - Dq)];
    }
  }
}

__global__ void KvGradSplitKernel(bf16* dkv, const bf16* dk, const bf16* dv, int64_t N,
                                  int64_t H, int64_t nope, int64_t rope, int64_t Dv) {
  const int64_t Dq = nope + rope, Dkv = nope + Dv;
  const int64_t total = N * H * Dkv;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t nh = i / Dkv, c = i % Dkv;
    dkv[i] = c < nope ? dk[nh * Dq + c] : dv[nh * Dv + (c - nope)];
  }
}

// The shared k_pe's gradient: the sum over heads, in head order.
__global__ void KvGradPeKernel(bf16* dkv_a, const bf16* dk, int64_t N, int64_t H, int64_t nope,
                               int64_t rope, int64_t L) {
  const int64_t Dq = nope + rope;
  const int64_t total = N * rope;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / rope, r = i % rope;
    float s = 0.0f;
    for (int64_t h = 0; h < H; ++h) s += __bfloat162float(dk[(n * H + h) * Dq + nope + r]);
    dkv_a[n * (L + rope) + L + r] = __float2bfloat16_rn(s);
  }
}

__global__ void GateWeightsKernel(float* w, const float* ts, int64_t N, int64_t K, bool normalize,
                                  float scaling) {
  for (int64_t n = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; n < N;
       n += int64_t(gridDim.x) * blockDim.x) {
    if (normalize) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += ts[n * K + k];
      const float denom = float(sum) + 1e-20f;
      for (int64_t k = 0; k < K; ++k) w[n * K + k] = ts[n * K + k] / denom;
    } else {
      for (int64_t k = 0; k < K; ++k) w[n * K + k] = ts[n * K + k] * scaling;
    }
  }
}

// One block per group; thread e handles expert e (strided by blockDim).
__global__ void AuxLossKernel(float* f, double* partial, const int32_t* idx, const float* scores,
                              int64_t per, int64_t E, int64_t K) {
  extern __shared__ double terms[];  // [E]
  const int64_t g = blockIdx.x;
  const float norm = float(per * K) / float(E);
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    int64_t count = 0;
    const int32_t* gi = idx + g * per * K;
    for (int64_t s = 0; s < per * K; ++s) count += gi[s] == e;
    const float fe = float(count) / norm;
    f[g * E + e] = fe;
    double p = 0;
    for (int64_t t = 0; t < per; ++t) p += scores[(g * per + t) * E + e];
    terms[e] = double(fe) * (p / double(per));
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += terms[e];
    partial[g] = sum;
  }
}

// One thread per (n, e).
__global__ void ScoresGradKernel(float* ds, const float* dw, const float* ts, const int32_t* idx,
                                 const float* f, double aux_coef, int64_t N, int64_t E, int64_t K,
                                 int64_t per, bool normalize, float scaling) {
  const int64_t total = N * E;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / E, e = i % E;
    float v = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      if (idx[n * K + k] != e) continue;
      if (normalize) {
        double S = 1e-20, dot = 0;
        for (int64_t j = 0; j < K; ++j) S += ts[n * K + j];
        for (int64_t j = 0; j < K; ++j) dot += double(dw[n * K + j]) * ts[n * K + j];
        v += float(dw[n * K + k] / S - dot / (S * S));
      } else {
        v += dw[n * K + k] * scaling;
      }
    }
    if (f != nullptr) v += float(aux_coef * f[(n / per) * E + e]);
    ds[i] = v;
  }
}

}  // namespace

cudaError_t CastF32ToBf16(bf16_bits* out, const float* in, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  CastKernel<<<Blocks(n), kThreads, 0, stream>>>(B16(out), in, n);
  return cudaGetLastError();
}

cudaError_t MlaBuildKv(bf16_bits* k, bf16_bits* v, const bf16_bits* kv, const bf16_bits* kv_a,
                       int64_t N, int64_t H, int64_t nope, int64_t rope, int64_t Dv, int64_t L,
                       cudaStream_t stream) {
  const int64_t total = N * H * (nope + rope + Dv);
  if (total <= 0) return cudaSuccess;
  BuildKvKernel<<<Blocks(total), kThreads, 0, stream>>>(B16(k), B16(v), B16(kv), B16(kv_a), N, H,
                                                        nope, rope, Dv, L);
  return cudaGetLastError();
}

cudaError_t MlaKvGrad(bf16_bits* dkv, bf16_bits* dkv_a, const bf16_bits* dk, const bf16_bits* dv,
                      int64_t N, int64_t H, int64_t nope, int64_t rope, int64_t Dv, int64_t L,
                      cudaStream_t stream) {
  if (N <= 0) return cudaSuccess;
  KvGradSplitKernel<<<Blocks(N * H * (nope + Dv)), kThreads, 0, stream>>>(B16(dkv), B16(dk),
                                                                          B16(dv), N, H, nope,
                                                                          rope, Dv);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || rope == 0) return err;
  KvGradPeKernel<<<Blocks(N * rope), kThreads, 0, stream>>>(B16(dkv_a), B16(dk), N, H, nope, rope,
                                                            L);
  return cudaGetLastError();
}

cudaError_t MoeGateWeights(float* w, const float* topk, int64_t N, int64_t K, bool normalize,
                           double scaling, cudaStream_t stream) {
  if (N <= 0 || K <= 0) return cudaSuccess;
  GateWeightsKernel<<<Blocks(N), kThreads, 0, stream>>>(w, topk, N, K, normalize && K > 1,
                                                        float(scaling));
  return cudaGetLastError();
}

cudaError_t MoeAuxLoss(float* f, double* partial, const int32_t* idx, const float* scores,
                       int64_t G, int64_t per, int64_t E, int64_t K, cudaStream_t stream) {
  if (G <= 0 || E <= 0 || E > 4096) return G <= 0 ? cudaSuccess : cudaErrorInvalidValue;
  const int threads = int(std::min<int64_t>(((E + 31) / 32) * 32, 512));
  AuxLossKernel<<<unsigned(G), threads, size_t(E) * sizeof(double), stream>>>(f, partial, idx,
                                                                             scores, per, E, K);
  return cudaGetLastError();
}

cudaError_t MoeScoresGrad(float* dscores, const float* dw, const float* topk, const int32_t* idx,
                          const float* f, double aux_coef, int64_t N, int64_t E, int64_t K,
                          int64_t per, bool normalize, double scaling, cudaStream_t stream) {
  if (N <= 0 || E <= 0) return cudaSuccess;
  ScoresGradKernel<<<Blocks(N * E), kThreads, 0, stream>>>(dscores, dw, topk, idx, f, aux_coef, N,
                                                           E, K, per, normalize && K > 1,
                                                           float(scaling));
  return cudaGetLastError();
}

}  // namespace hs::models::cuda_model
