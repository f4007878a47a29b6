// File: models/kernels/cuda/adamw.h
//
// Fused AdamW over fp32 master weights with global-norm gradient clipping
// done on the device (no host round trip for the norm). CPU twins:
// optim/adamw.h (AdamWUpdate) and optim/clip.h (SumOfSquares, ClipScale).
// One kernel per step per contiguous span:
//   g  = grad * clip_scale                    (clip_scale from the device)
//   m  = b1*m + (1-b1)*g;   v = b2*v + (1-b2)*g^2
//   p  = p*(1 - lr*wd) - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
//   p_bf16 = bf16(p)                          (the forward's weights, optional)
// The per-step constants come from MakeAdamWScalars (launch.h), computed
// on the host in double exactly like optim/adamw.cc.
// Clipping: GradSumOfSquares adds sum(g^2) (fp64, fixed order: fixed
// per-block partials, then one block) into *sumsq, span by span;
// GradClipScale turns it into norm and scale = max_norm/(norm+1e-6) when
// norm > max_norm (1 when not, when max_norm <= 0, or when not finite).
//
// Usage:
//   GradSumOfSquares(sumsq, scratch, grads, n, /*accumulate=*/false, s);
//   GradClipScale(scale, norm, sumsq, max_norm, s);
//   AdamWStep(master, weights_bf16, grads, m, v, n,
//             MakeAdamWScalars(lr, wd, 0.9, 0.95, 1e-8, step + 1), scale, s);
#ifndef MODELS_KERNELS_CUDA_ADAMW_H_
#define MODELS_KERNELS_CUDA_ADAMW_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

// AdamWStep: p, m, v (fp32, updated in place), g (fp32, read),
// p_bf16 (bf16 copy of the new p; may be null), grad_scale (device float,
// may be null = 1).
cudaError_t AdamWStep(float* p, bf16_bits* p_bf16, const float* g, float* m,
                      float* v, int64_t n, const AdamWScalars& scalars,
                      const float* grad_scale, cudaStream_t stream);

// GradSumOfSquaresScratch(n): fp64 elements `scratch` must hold.
int64_t GradSumOfSquaresScratch(int64_t n);

// GradSumOfSquares: *sumsq (=, or += with accumulate) sum_i g[i]^2 in fp64.
cudaError_t GradSumOfSquares(double* sumsq, double* scratch, const float* g,
                             int64_t n, bool accumulate, cudaStream_t stream);

// GradClipScale: *norm = sqrt(*sumsq) (fp32), *scale = the clip factor.
cudaError_t GradClipScale(float* scale, float* norm, const double* sumsq,
                          double max_norm, cudaStream_t stream);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_ADAMW_H_
