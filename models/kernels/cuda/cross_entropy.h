// File: models/kernels/cuda/cross_entropy.h
//
// Fused softmax cross-entropy over the vocabulary: bf16 logits, fp32 loss
// and log-sum-exp, bf16 logit gradient. CPU twin:
// models/kernels/cpu/cross_entropy.h. Legend: N rows, V vocabulary. Rows
// with a negative target (HF's ignore index -100) give loss 0 and a zero
// gradient row. No N x V probability buffer exists: one block per row
// walks the vocabulary in chunks of blockDim, keeping a running (max, sum)
// pair per thread (online softmax), then merges the pairs; the backward
// re-derives softmax from the saved lse.
//   lse[n]    = log sum_v exp(x[n,v])                                 (=)
//   losses[n] = lse[n] - x[n, t_n]   (0 if t_n < 0; NaN if t_n >= V)  (=)
//   dx[n,v]   = bf16(scale * (exp(x[n,v] - lse[n]) - [v == t_n]))     (=)
//
// Usage:
//   CrossEntropyForward(losses, lse, logits, targets, valid, N, V, s);
//   CrossEntropyBackward(logits, logits, lse, targets, N, V, 1.0f/valid, s);
#ifndef MODELS_KERNELS_CUDA_CROSS_ENTROPY_H_
#define MODELS_KERNELS_CUDA_CROSS_ENTROPY_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

// CrossEntropyForward: losses[N], lse[N] (fp32, =). When `valid_count` is
// not null, the number of rows with a target >= 0 is ADDED to *valid_count
// (device int; zero it first).
cudaError_t CrossEntropyForward(float* losses, float* lse,
                                const bf16_bits* logits,
                                const int32_t* targets, int* valid_count,
                                int64_t N, int64_t V, cudaStream_t stream);

// CrossEntropyBackward: dlogits[N,V] (=); may equal logits (in place).
cudaError_t CrossEntropyBackward(bf16_bits* dlogits, const bf16_bits* logits,
                                 const float* lse, const int32_t* targets,
                                 int64_t N, int64_t V, float scale,
                                 cudaStream_t stream);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_CROSS_ENTROPY_H_
