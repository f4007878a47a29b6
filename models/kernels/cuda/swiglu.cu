// File: models/kernels/cuda/swiglu.cu
//
// SwiGLU kernels (see swiglu.h): grid-stride, one (n, i) per iteration;
// sigmoid with the accurate expf (not __expf) to stay close to the CPU.
#include "models/kernels/cuda/swiglu.h"

#include "models/kernels/cuda/device_common.h"

namespace hs::kernels::cuda {
namespace {

using detail::bf16;
using detail::Ld;
using detail::St;

__global__ void SwiGluForwardKernel(bf16* out, const bf16* gate_up,
                                    int64_t N, int64_t I) {
  const int64_t total = N * I;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total;
       k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = k / I, i = k - n * I;
    const float g = Ld(gate_up, n * 2 * I + i);
    const float u = Ld(gate_up, n * 2 * I + I + i);
    const float sig = 1.0f / (1.0f + expf(-g));
    out[k] = St(g * sig * u);
  }
}

__global__ void SwiGluBackwardKernel(bf16* dgate_up, const bf16* dout,
                                     const bf16* gate_up, int64_t N,
                                     int64_t I) {
  const int64_t total = N * I;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total;
       k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = k / I, i = k - n * I;
    const float g = Ld(gate_up, n * 2 * I + i);
    const float u = Ld(gate_up, n * 2 * I + I + i);
    const float d = Ld(dout, k);
    const float sig = 1.0f / (1.0f + expf(-g));
    // d silu/dg = sig * (1 + g * (1 - sig))
    dgate_up[n * 2 * I + i] = St(d * u * sig * (1.0f + g * (1.0f - sig)));
    dgate_up[n * 2 * I + I + i] = St(d * (g * sig));
  }
}

}  // namespace

cudaError_t SwiGluForward(bf16_bits* out, const bf16_bits* gate_up, int64_t N,
                          int64_t I, cudaStream_t stream) {
  if (N * I == 0) return cudaSuccess;
  const LaunchShape s = ElementwiseShape(N * I);
  if (!s.ok()) return cudaErrorInvalidValue;
  SwiGluForwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(out), detail::AsBf16(gate_up), N, I);
  return cudaGetLastError();
}

cudaError_t SwiGluBackward(bf16_bits* dgate_up, const bf16_bits* dout,
                           const bf16_bits* gate_up, int64_t N, int64_t I,
                           cudaStream_t stream) {
  if (N * I == 0) return cudaSuccess;
  const LaunchShape s = ElementwiseShape(N * I);
  if (!s.ok() || dgate_up == gate_up) return cudaErrorInvalidValue;
  SwiGluBackwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(dgate_up), detail::AsBf16(dout), detail::AsBf16(gate_up),
      N, I);
  return cudaGetLastError();
}

}  // namespace hs::kernels::cuda
