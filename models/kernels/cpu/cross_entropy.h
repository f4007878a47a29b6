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

// SoftmaxRowStats: what the backward needs of a row's softmax: its max and
// the reciprocal of sum_v exp(x[v] - max), rounded to float once.
struct SoftmaxRowStats {
  float max;
  float inv_sum;
};

// CrossEntropyForward: losses[N] (=), stats[N] (=, saved):
//   losses[n] = log sum_v exp(logits[n,v]) - logits[n,t_n]
// (0 for ignored rows). Returns the number of non-ignored rows.
int64_t CrossEntropyForward(float* losses, SoftmaxRowStats* stats, const float* logits,
                            const int32_t* targets, int64_t N, int64_t V);

// CrossEntropyBackward: dlogits[N,V] (=) = scale * (softmax(logits) - onehot)
// (0 for ignored rows). `dlogits` may equal `logits` (in place), which is
// how the model avoids a second N x V buffer. With row_weights [N] (signed,
// e.g. policy-gradient advantages), row n's scale is scale * row_weights[n]
// (one float product), applied in the same pass; rows of weight 0 are
// written as zeros without evaluating their softmax.
void CrossEntropyBackward(float* dlogits, const float* logits, const SoftmaxRowStats* stats,
                          const int32_t* targets, int64_t N, int64_t V,
                          float scale, const float* row_weights = nullptr);

// CrossEntropyForwardBackward: the two above at once (no row weights), the
// gradient written over the logits: losses[N] (=), logits[N,V] (= dlogits).
// One pass over each row instead of two, the same bits. Returns the number
// of non-ignored rows.
int64_t CrossEntropyForwardBackward(float* losses, float* logits, const int32_t* targets,
                                    int64_t N, int64_t V, float scale);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_CROSS_ENTROPY_H_
