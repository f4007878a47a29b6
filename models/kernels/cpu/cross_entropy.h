// File: models/kernels/cpu/cross_entropy.h
//
// Fused softmax cross-entropy over the vocabulary. Rows whose target is
// negative (the ignore index, -100 in HF) contribute no loss or gradient,
// which SFT's prompt masking relies on.
// Legend: N = rows (tokens), V = vocabulary.
#ifndef MODELS_KERNELS_CPU_CROSS_ENTROPY_H_
#define MODELS_KERNELS_CPU_CROSS_ENTROPY_H_

#include <cstdint>

namespace hs::kernels::cpu {

// CrossEntropyForward: losses[N] (=), lse[N] (=, saved):
//   lse[n] = log sum_v exp(logits[n,v]);  losses[n] = lse[n] - logits[n,t_n]
// (0 for ignored rows). Returns the number of non-ignored rows.
int64_t CrossEntropyForward(float* losses, float* lse, const float* logits,
                            const int32_t* targets, int64_t N, int64_t V);

// CrossEntropyBackward: dlogits[N,V] (=) = scale * (softmax(logits) - onehot)
// (0 for ignored rows). `dlogits` may equal `logits` (in place), which is
// how the model avoids a second N x V buffer. With row_weights [N] (signed,
// e.g. policy-gradient advantages), row n's scale is scale * row_weights[n]
// (one float product), applied in the same pass; rows of weight 0 are
// written as zeros without evaluating their softmax.
void CrossEntropyBackward(float* dlogits, const float* logits, const float* lse,
                          const int32_t* targets, int64_t N, int64_t V,
                          float scale, const float* row_weights = nullptr);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_CROSS_ENTROPY_H_
