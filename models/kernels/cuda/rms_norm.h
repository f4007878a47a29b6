// File: models/kernels/cuda/rms_norm.h
//
// RMSNorm fused with the residual add, bf16 activations, fp32 math.
// CPU twin: models/kernels/cpu/rms_norm.h (same formulas). Legend: N rows,
// C channels. Accumulation: activations (=), the residual-stream gradient
// dinp (+=), parameter gradient dweight (+=, fp32).
//
// Forward (residual != nullptr):
//   r[n,c]   = bf16(residual[n,c] + inp[n,c])     -> residual_out (=)
//   rstd[n]  = 1 / sqrt(mean_c r[n,c]^2 + eps)    -> rstd (=, fp32, saved)
//   out[n,c] = bf16(weight[c] * (r[n,c] * rstd[n]))
// (residual == nullptr: plain RMSNorm of inp, residual_out unused.) The
// norm reads the ROUNDED residual, the value the backward sees.
// Backward: with xhat = r * rstd, g = dout * weight,
//   dweight[c] += sum_n dout * xhat                 (deterministic order)
//   dinp[n,c]   = bf16(dinp[n,c] + rstd * (g - xhat * mean_c(g * xhat)))
// so dinp is the residual stream's gradient that the norm adds into.
//
// Usage:
//   RmsNormForward(res, x_norm, rstd, res, attn_out, w, N, C, 1e-6f, s);
//   RmsNormBackward(dres, dw, scratch, dx_norm, res, w, rstd, N, C, s);
#ifndef MODELS_KERNELS_CUDA_RMS_NORM_H_
#define MODELS_KERNELS_CUDA_RMS_NORM_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

// RmsNormForward: see the banner. residual_out may equal residual.
cudaError_t RmsNormForward(bf16_bits* residual_out, bf16_bits* out,
                           float* rstd, const bf16_bits* residual,
                           const bf16_bits* inp, const bf16_bits* weight,
                           int64_t N, int64_t C, float eps,
                           cudaStream_t stream);

// RmsNormBackwardScratchFloats(N, C): fp32 elements `scratch` must hold.
int64_t RmsNormBackwardScratchFloats(int64_t N, int64_t C);

// RmsNormBackward: inp is the forward's normalised input (residual_out).
// cudaErrorInvalidValue for C > 12288 (shared-memory partials).
cudaError_t RmsNormBackward(bf16_bits* dinp, float* dweight, float* scratch,
                            const bf16_bits* dout, const bf16_bits* inp,
                            const bf16_bits* weight, const float* rstd,
                            int64_t N, int64_t C, cudaStream_t stream);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_RMS_NORM_H_
