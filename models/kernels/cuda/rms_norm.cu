// File: models/kernels/cuda/rms_norm.cu
//
// RMSNorm + residual kernels (see rms_norm.h for the math). One block per
// row in the forward; the backward keeps each block's dweight partial in
// shared memory, writes it to scratch[grid, C], and a second kernel adds
// the partials in block order, so dweight is bit-reproducible.
#include "models/kernels/cuda/rms_norm.h"

#include "models/kernels/cuda/device_common.h"

namespace hs::kernels::cuda {
namespace {

using detail::bf16;
using detail::BlockSum;
using detail::Ld;
using detail::St;

// grid N, block RmsNormForwardShape. residual == nullptr: plain RMSNorm.
__global__ void RmsNormForwardKernel(bf16* residual_out, bf16* out,
                                     float* rstd, const bf16* residual,
                                     const bf16* inp, const bf16* weight,
                                     int64_t C, float eps) {
  __shared__ float red[32];
  const int64_t row = int64_t(blockIdx.x) * C;
  // Pass 1: residual add (rounded to bf16, stored) and sum of squares.
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float v = Ld(inp, row + c);
    if (residual != nullptr) {
      const bf16 r = St(Ld(residual, row + c) + v);
      residual_out[row + c] = r;
      v = __bfloat162float(r);
    }
    ss += v * v;
  }
  ss = BlockSum(ss, red);
  const float r = 1.0f / sqrtf(ss / float(C) + eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;
  // Pass 2: normalise; each thread re-reads the elements it wrote.
  const bf16* x = residual != nullptr ? residual_out : inp;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    out[row + c] = St(Ld(weight, c) * (Ld(x, row + c) * r));
  }
}

// grid RmsNormBackwardShape (rows b, b+grid, ...), smem 4*C.
__global__ void RmsNormBackwardKernel(bf16* dinp, float* partial,
                                      const bf16* dout, const bf16* inp,
                                      const bf16* weight, const float* rstd,
                                      int64_t N, int64_t C) {
  extern __shared__ float dw[];  // [C], slot c owned by thread c % blockDim
  __shared__ float red[32];
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dw[c] = 0.0f;
  const float inv_c = 1.0f / float(C);
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const int64_t row = n * C;
    const float r = rstd[n];
    // term 1: mean_c(g * xhat); also dweight's per-row contribution.
    float dot = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      const float d = Ld(dout, row + c);
      const float xhat = Ld(inp, row + c) * r;
      dot += d * Ld(weight, c) * xhat;
      dw[c] += d * xhat;
    }
    const float mean = BlockSum(dot, red) * inv_c;
    // term 2: dinp += rstd * (g - xhat * mean)
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      const float g = Ld(dout, row + c) * Ld(weight, c);
      const float xhat = Ld(inp, row + c) * r;
      dinp[row + c] = St(Ld(dinp, row + c) + r * (g - xhat * mean));
    }
  }
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    partial[int64_t(blockIdx.x) * C + c] = dw[c];
  }
}

// dweight[c] += sum_b partial[b, c], b in order.
__global__ void RmsNormReduceKernel(float* dweight, const float* partial,
                                    int64_t blocks, int64_t C) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float s = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) s += partial[b * C + c];
  dweight[c] += s;
}

}  // namespace

cudaError_t RmsNormForward(bf16_bits* residual_out, bf16_bits* out,
                           float* rstd, const bf16_bits* residual,
                           const bf16_bits* inp, const bf16_bits* weight,
                           int64_t N, int64_t C, float eps,
                           cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = RmsNormForwardShape(N, C);
  if (!s.ok() || (residual != nullptr && residual_out == nullptr)) {
    return cudaErrorInvalidValue;
  }
  RmsNormForwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(residual_out), detail::AsBf16(out), rstd,
      detail::AsBf16(residual), detail::AsBf16(inp), detail::AsBf16(weight),
      C, eps);
  return cudaGetLastError();
}

int64_t RmsNormBackwardScratchFloats(int64_t N, int64_t C) {
  return RmsNormBackwardShape(N, C).scratch_elems;
}

cudaError_t RmsNormBackward(bf16_bits* dinp, float* dweight, float* scratch,
                            const bf16_bits* dout, const bf16_bits* inp,
                            const bf16_bits* weight, const float* rstd,
                            int64_t N, int64_t C, cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = RmsNormBackwardShape(N, C);
  const LaunchShape r = RmsNormReduceShape(C);
  if (!s.ok() || !r.ok()) return cudaErrorInvalidValue;
  RmsNormBackwardKernel<<<unsigned(s.grid_x), s.block, size_t(s.smem_bytes),
                          stream>>>(detail::AsBf16(dinp), scratch,
                                    detail::AsBf16(dout), detail::AsBf16(inp),
                                    detail::AsBf16(weight), rstd, N, C);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  RmsNormReduceKernel<<<unsigned(r.grid_x), r.block, 0, stream>>>(
      dweight, scratch, s.grid_x, C);
  return cudaGetLastError();
}

}  // namespace hs::kernels::cuda
