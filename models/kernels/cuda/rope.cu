// File: models/kernels/cuda/rope.cu
//
// RoPE kernels (see rope.h). One thread per rotation pair; a block holds
// RopeVectorsPerBlock(D) whole vectors, so every thread reads its pair,
// the block synchronises, and only then writes: in-place is safe.
#include "models/kernels/cuda/rope.h"

#include "models/kernels/cuda/device_common.h"

namespace hs::kernels::cuda {
namespace {

using detail::bf16;
using detail::Ld;
using detail::St;

template <bool kBackward>
__global__ void RopeKernel(bf16* out, int64_t out_ts, int64_t out_hs,
                           const bf16* inp, int64_t in_ts, int64_t in_hs,
                           const float* cos, const float* sin, int64_t T,
                           int64_t H, int half, int64_t vectors,
                           int64_t pos_offset) {
  const int vpb = blockDim.x / half;
  const int local = threadIdx.x / half;
  const int i = threadIdx.x - local * half;
  const int64_t vec = int64_t(blockIdx.x) * vpb + local;
  const bool active = vec < vectors;
  float o0 = 0.0f, o1 = 0.0f;
  int64_t bt = 0, h = 0;
  if (active) {
    bt = vec / H;
    h = vec - bt * H;
    const int64_t pos = pos_offset + bt % T;
    const float c = cos[pos * half + i];
    const float s = sin[pos * half + i];
    const bf16* x = inp + bt * in_ts + h * in_hs;
    if (!kBackward) {
      const float x0 = Ld(x, 2 * i), x1 = Ld(x, 2 * i + 1);
      o0 = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));   // out[i]
      o1 = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s));   // out[i+half]
    } else {
      const float d0 = Ld(x, i), d1 = Ld(x, i + half);
      o0 = __fadd_rn(__fmul_rn(c, d0), __fmul_rn(s, d1));   // dx[2i]
      o1 = __fsub_rn(__fmul_rn(c, d1), __fmul_rn(s, d0));   // dx[2i+1]
    }
  }
  __syncthreads();  // all reads of the block's vectors precede any write
  if (!active) return;
  bf16* y = out + bt * out_ts + h * out_hs;
  if (!kBackward) {
    y[i] = St(o0);
    y[i + half] = St(o1);
  } else {
    y[2 * i] = St(o0);
    y[2 * i + 1] = St(o1);
  }
}

template <bool kBackward>
cudaError_t Launch(bf16_bits* out, int64_t out_ts, int64_t out_hs,
                   const bf16_bits* inp, int64_t in_ts, int64_t in_hs,
                   const float* cos, const float* sin, int64_t B, int64_t T,
                   int64_t H, int64_t D, int64_t pos_offset,
                   cudaStream_t stream) {
  if (B * T * H == 0) return cudaSuccess;
  const LaunchShape s = RopeShape(B, T, H, D);
  if (!s.ok()) return cudaErrorInvalidValue;
  RopeKernel<kBackward><<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(out), out_ts, out_hs, detail::AsBf16(inp), in_ts, in_hs,
      cos, sin, T, H, int(D / 2), B * T * H, pos_offset);
  return cudaGetLastError();
}

}  // namespace

cudaError_t RopeForward(bf16_bits* out, int64_t out_token_stride,
                        int64_t out_head_stride, const bf16_bits* inp,
                        int64_t inp_token_stride, int64_t inp_head_stride,
                        const float* cos, const float* sin, int64_t B,
                        int64_t T, int64_t H, int64_t D, int64_t pos_offset,
                        cudaStream_t stream) {
  return Launch<false>(out, out_token_stride, out_head_stride, inp,
                       inp_token_stride, inp_head_stride, cos, sin, B, T, H,
                       D, pos_offset, stream);
}

cudaError_t RopeBackward(bf16_bits* dinp, int64_t dinp_token_stride,
                         int64_t dinp_head_stride, const bf16_bits* dout,
                         int64_t dout_token_stride, int64_t dout_head_stride,
                         const float* cos, const float* sin, int64_t B,
                         int64_t T, int64_t H, int64_t D, int64_t pos_offset,
                         cudaStream_t stream) {
  return Launch<true>(dinp, dinp_token_stride, dinp_head_stride, dout,
                      dout_token_stride, dout_head_stride, cos, sin, B, T, H,
                      D, pos_offset, stream);
}

}  // namespace hs::kernels::cuda
