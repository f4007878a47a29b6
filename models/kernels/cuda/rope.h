// File: models/kernels/cuda/rope.h
//
// Interleaved RoPE (DeepSeek-V2 / HF modeling_deepseek.py layout), bf16
// activations, fp32 cos/sin tables and math. CPU twin and the exact layout:
// models/kernels/cpu/rope.h. Input pairs are interleaved (x0,x1),(x2,x3)..;
// the output is half-split:
//   out[i]       = x[2i]   * cos[p,i] - x[2i+1] * sin[p,i]
//   out[i + D/2] = x[2i+1] * cos[p,i] + x[2i]   * sin[p,i]     (i < D/2)
// and the backward is the transposed rotation:
//   dx[2i]   = cos * d[i] + sin * d[i+D/2]
//   dx[2i+1] = cos * d[i+D/2] - sin * d[i]
// with p = pos_offset + t. Products and sums are rounded separately
// (no FMA contraction), as the CPU twin and torch compute them; the only
// difference from the CPU is the final rounding to bf16.
// Strides are in elements: element (b,t,h) starts at
// ptr + (b*T + t)*token_stride + h*head_stride. cos/sin come from
// cpu::RopeTables (copied to the device once).
//
// Usage:
//   RopeForward(q_pe, q_ts, q_hs, q_pe, q_ts, q_hs, cos, sin, B, T, H, 64, 0, s);
#ifndef MODELS_KERNELS_CUDA_ROPE_H_
#define MODELS_KERNELS_CUDA_ROPE_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

// RopeForward: out (=) from inp; out may equal inp (in place).
cudaError_t RopeForward(bf16_bits* out, int64_t out_token_stride,
                        int64_t out_head_stride, const bf16_bits* inp,
                        int64_t inp_token_stride, int64_t inp_head_stride,
                        const float* cos, const float* sin, int64_t B,
                        int64_t T, int64_t H, int64_t D, int64_t pos_offset,
                        cudaStream_t stream);

// RopeBackward: dinp (=) from dout; dinp may equal dout.
cudaError_t RopeBackward(bf16_bits* dinp, int64_t dinp_token_stride,
                         int64_t dinp_head_stride, const bf16_bits* dout,
                         int64_t dout_token_stride, int64_t dout_head_stride,
                         const float* cos, const float* sin, int64_t B,
                         int64_t T, int64_t H, int64_t D, int64_t pos_offset,
                         cudaStream_t stream);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_ROPE_H_
