// File: models/kernels/cuda/device_common.h
//
// Device helpers shared by the .cu kernels (included only by .cu files):
// bf16 load/store and deterministic warp/block sums. The block sum adds in
// a fixed tree order (lanes by xor-shuffle, then warps in index order), so
// for a fixed block size the result does not depend on timing.
// Block sizes are multiples of 32 (see launch.h).
#ifndef MODELS_KERNELS_CUDA_DEVICE_COMMON_H_
#define MODELS_KERNELS_CUDA_DEVICE_COMMON_H_

#include <cuda_bf16.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda::detail {

using bf16 = __nv_bfloat16;

// AsBf16(p): the interface's raw bits viewed as CUDA bf16.
__host__ __device__ inline bf16* AsBf16(bf16_bits* p) {
  return reinterpret_cast<bf16*>(p);
}
__host__ __device__ inline const bf16* AsBf16(const bf16_bits* p) {
  return reinterpret_cast<const bf16*>(p);
}

// Ld(p, i): widen one bf16 to fp32 (exact). St(x): round to nearest even.
__device__ __forceinline__ float Ld(const bf16* p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ bf16 St(float x) { return __float2bfloat16_rn(x); }
// RoundBf16(x): x rounded to bf16 and widened back.
__device__ __forceinline__ float RoundBf16(float x) {
  return __bfloat162float(__float2bfloat16_rn(x));
}

// WarpSum(v): sum over the 32 lanes, every lane gets the result.
template <typename T>
__device__ __forceinline__ T WarpSum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// BlockSum(v, scratch[32]): sum over the block, every thread gets it.
// Contains __syncthreads(): call from all threads of the block.
template <typename T>
__device__ __forceinline__ T BlockSum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  v = WarpSum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < warps ? scratch[lane] : T(0);
    w = WarpSum(w);
    if (lane == 0) scratch[0] = w;
  }
  __syncthreads();
  return scratch[0];
}

}  // namespace hs::kernels::cuda::detail

#endif  // MODELS_KERNELS_CUDA_DEVICE_COMMON_H_
