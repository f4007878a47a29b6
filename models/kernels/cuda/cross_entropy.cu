// File: models/kernels/cuda/cross_entropy.cu
//
// Cross-entropy kernels (see cross_entropy.h). The (max, sum) merge:
//   (m1, s1) + (m2, s2) = (M, s1 * exp(m1 - M) + s2 * exp(m2 - M)),
//   M = max(m1, m2); an empty side (m = -inf, s = 0) is the identity.
// exp is the accurate expf; the merge order is fixed (xor-shuffle within a
// warp, warps in index order), so lse is reproducible for a block size.
#include "models/kernels/cuda/cross_entropy.h"

#include <math_constants.h>

#include "models/kernels/cuda/device_common.h"

namespace hs::kernels::cuda {
namespace {

using detail::bf16;
using detail::Ld;
using detail::St;

struct MaxSum {
  float m;
  float s;
};

__device__ __forceinline__ MaxSum Merge(MaxSum a, MaxSum b) {
  if (b.m == -CUDART_INF_F) return a;
  if (a.m == -CUDART_INF_F) return b;
  const float M = fmaxf(a.m, b.m);
  return {M, a.s * expf(a.m - M) + b.s * expf(b.m - M)};
}

// BlockMaxSum: merge over the block (contains __syncthreads()).
__device__ MaxSum BlockMaxSum(MaxSum v, MaxSum* scratch /*[32]*/) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    MaxSum other{__shfl_xor_sync(0xffffffffu, v.m, o),
                 __shfl_xor_sync(0xffffffffu, v.s, o)};
    v = Merge(v, other);
  }
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    MaxSum w = lane < warps ? scratch[lane] : MaxSum{-CUDART_INF_F, 0.0f};
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      MaxSum other{__shfl_xor_sync(0xffffffffu, w.m, o),
                   __shfl_xor_sync(0xffffffffu, w.s, o)};
      w = Merge(w, other);
    }
    if (lane == 0) scratch[0] = w;
  }
  __syncthreads();
  return scratch[0];
}

// grid N, block CrossEntropyShape.
__global__ void CrossEntropyForwardKernel(float* losses, float* lse,
                                          const bf16* logits,
                                          const int32_t* targets,
                                          int* valid_count, int64_t V) {
  __shared__ MaxSum scratch[32];
  const int64_t n = blockIdx.x;
  const bf16* x = logits + n * V;
  // Vocabulary-chunked loop: chunk k covers [k*blockDim, (k+1)*blockDim).
  MaxSum acc{-CUDART_INF_F, 0.0f};
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float xv = Ld(x, v);
    if (xv == -CUDART_INF_F) continue;  // exp(-inf) = 0; NaN still poisons
    if (xv > acc.m) {
      acc.s = acc.s * expf(acc.m - xv) + 1.0f;
      acc.m = xv;
    } else {
      acc.s += expf(xv - acc.m);
    }
  }
  const MaxSum row = BlockMaxSum(acc, scratch);
  if (threadIdx.x != 0) return;
  const float l = row.m + logf(row.s);
  lse[n] = l;
  const int32_t t = targets[n];
  if (t < 0) {
    losses[n] = 0.0f;
  } else if (t >= V) {
    losses[n] = CUDART_NAN_F;  // caller bug; visible in the loss
  } else {
    losses[n] = l - Ld(x, t);
    if (valid_count != nullptr) atomicAdd(valid_count, 1);
  }
}

// grid N, block CrossEntropyShape. Each element is read, then written, by
// the same thread, so dlogits == logits is safe.
__global__ void CrossEntropyBackwardKernel(bf16* dlogits, const bf16* logits,
                                           const float* lse,
                                           const int32_t* targets, int64_t V,
                                           float scale) {
  const int64_t n = blockIdx.x;
  const bf16* x = logits + n * V;
  bf16* dx = dlogits + n * V;
  const int32_t t = targets[n];
  if (t < 0 || t >= V) {
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) dx[v] = St(0.0f);
    return;
  }
  const float l = lse[n];
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float p = expf(Ld(x, v) - l);
    dx[v] = St(scale * (v == t ? p - 1.0f : p));
  }
}

}  // namespace

cudaError_t CrossEntropyForward(float* losses, float* lse,
                                const bf16_bits* logits,
                                const int32_t* targets, int* valid_count,
                                int64_t N, int64_t V, cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = CrossEntropyShape(N, V);
  if (!s.ok()) return cudaErrorInvalidValue;
  CrossEntropyForwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      losses, lse, detail::AsBf16(logits), targets, valid_count, V);
  return cudaGetLastError();
}

cudaError_t CrossEntropyBackward(bf16_bits* dlogits, const bf16_bits* logits,
                                 const float* lse, const int32_t* targets,
                                 int64_t N, int64_t V, float scale,
                                 cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = CrossEntropyShape(N, V);
  if (!s.ok()) return cudaErrorInvalidValue;
  CrossEntropyBackwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(dlogits), detail::AsBf16(logits), lse, targets, V,
      scale);
  return cudaGetLastError();
}

}  // namespace hs::kernels::cuda
