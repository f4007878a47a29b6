// File: models/kernels/cuda/adamw.cu
//
// AdamW and gradient-norm kernels (see adamw.h). Element-wise work is a
// grid-stride loop; the update is per element, so its result does not
// depend on the launch shape. The sum of squares goes through fixed
// per-block fp64 partials (SumSquaresShape depends on n only).
#include "models/kernels/cuda/adamw.h"

#include "models/kernels/cuda/device_common.h"

namespace hs::kernels::cuda {
namespace {

using detail::bf16;
using detail::BlockSum;
using detail::St;

__global__ void AdamWKernel(float* p, bf16* p_bf16, const float* g, float* m,
                            float* v, int64_t n, AdamWScalars a,
                            const float* grad_scale) {
  const float gs = grad_scale != nullptr ? *grad_scale : 1.0f;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float gi = grad_scale != nullptr ? g[i] * gs : g[i];
    const float mi = a.b1 * m[i] + a.one_minus_b1 * gi;          // first moment
    const float vi = a.b2 * v[i] + a.one_minus_b2 * gi * gi;     // second moment
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) * a.inv_sqrt_bc2 + a.eps;     // sqrt(vhat) + eps
    const float pi = p[i] * a.decay_keep - a.step_size * mi / denom;
    p[i] = pi;
    if (p_bf16 != nullptr) p_bf16[i] = St(pi);
  }
}

__global__ void SumSquaresPartialKernel(double* partial, const float* g,
                                        int64_t n) {
  __shared__ double red[32];
  double acc = 0.0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const double x = g[i];
    acc += x * x;
  }
  acc = BlockSum(acc, red);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void SumSquaresFinalKernel(double* sumsq, const double* partial,
                                      int64_t blocks, bool accumulate) {
  __shared__ double red[32];
  double acc = 0.0;
  for (int64_t b = threadIdx.x; b < blocks; b += blockDim.x) acc += partial[b];
  acc = BlockSum(acc, red);
  if (threadIdx.x == 0) *sumsq = accumulate ? *sumsq + acc : acc;
}

__global__ void ClipScaleKernel(float* scale, float* norm, const double* sumsq,
                                double max_norm) {
  const double nrm = sqrt(*sumsq);
  *norm = float(nrm);
  double s = 1.0;
  if (isfinite(nrm) && max_norm > 0.0 && nrm > max_norm) {
    s = max_norm / (nrm + 1e-6);
  }
  *scale = float(s);
}

}  // namespace

cudaError_t AdamWStep(float* p, bf16_bits* p_bf16, const float* g, float* m,
                      float* v, int64_t n, const AdamWScalars& scalars,
                      const float* grad_scale, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const LaunchShape s = ElementwiseShape(n);
  if (!s.ok()) return cudaErrorInvalidValue;
  AdamWKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      p, detail::AsBf16(p_bf16), g, m, v, n, scalars, grad_scale);
  return cudaGetLastError();
}

int64_t GradSumOfSquaresScratch(int64_t n) {
  return SumSquaresShape(n).scratch_elems;
}

cudaError_t GradSumOfSquares(double* sumsq, double* scratch, const float* g,
                             int64_t n, bool accumulate, cudaStream_t stream) {
  if (n == 0) {
    if (accumulate) return cudaSuccess;
    return cudaMemsetAsync(sumsq, 0, sizeof(double), stream);
  }
  const LaunchShape s = SumSquaresShape(n);
  if (!s.ok()) return cudaErrorInvalidValue;
  SumSquaresPartialKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      scratch, g, n);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  SumSquaresFinalKernel<<<1, 256, 0, stream>>>(sumsq, scratch, s.grid_x,
                                               accumulate);
  return cudaGetLastError();
}

cudaError_t GradClipScale(float* scale, float* norm, const double* sumsq,
                          double max_norm, cudaStream_t stream) {
  ClipScaleKernel<<<1, 1, 0, stream>>>(scale, norm, sumsq, max_norm);
  return cudaGetLastError();
}

}  // namespace hs::kernels::cuda
