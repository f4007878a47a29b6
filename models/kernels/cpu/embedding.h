// File: models/kernels/cpu/embedding.h
//
// Token embedding lookup. Legend: N = tokens, C = hidden size.
// Token ids must already be validated (0 <= id < vocab): the data loader
// reports out-of-range ids with the file and offset.
#ifndef MODELS_KERNELS_CPU_EMBEDDING_H_
#define MODELS_KERNELS_CPU_EMBEDDING_H_

#include <cstdint>

namespace hs::kernels::cpu {

// EmbeddingForward: out[n,:] = table[tokens[n], :].   (out =)
void EmbeddingForward(float* out, const int32_t* tokens, const float* table,
                      int64_t N, int64_t C);

// EmbeddingBackward: dtable[tokens[n], :] += dout[n, :].   (dtable +=)
// Deterministic: the result does not depend on the thread count.
void EmbeddingBackward(float* dtable, const int32_t* tokens, const float* dout,
                       int64_t N, int64_t C);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_EMBEDDING_H_
