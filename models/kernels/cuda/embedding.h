// File: models/kernels/cuda/embedding.h
//
// Token embedding, bf16 table and activations, fp32 table gradient.
// CPU twin: models/kernels/cpu/embedding.h. Legend: N tokens, C hidden,
// V vocabulary. Ids must be validated by the loader; an id outside [0, V)
// gives a zero row in the forward and is skipped in the backward (never an
// out-of-bounds access).
//   forward:  out[n,:] = table[tokens[n], :]                        (=)
//   backward: dtable[tokens[n], :] += dout[n, :]  (fp32, +=)
// The backward is deterministic without atomics: every dtable element is
// owned by one thread, which adds the rows that use it in ascending n (the
// CPU twin's order), see EmbeddingBackwardShape in launch.h.
//
// Usage:
//   EmbeddingForward(x, tokens, wte, N, C, V, stream);
//   EmbeddingBackward(dwte, tokens, dx, N, C, V, stream);
#ifndef MODELS_KERNELS_CUDA_EMBEDDING_H_
#define MODELS_KERNELS_CUDA_EMBEDDING_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

// EmbeddingForward: out[N,C] (=), tokens[N] (device int32), table[V,C].
cudaError_t EmbeddingForward(bf16_bits* out, const int32_t* tokens,
                             const bf16_bits* table, int64_t N, int64_t C,
                             int64_t V, cudaStream_t stream);

// EmbeddingBackward: dtable[V,C] (fp32, +=) from dout[N,C].
cudaError_t EmbeddingBackward(float* dtable, const int32_t* tokens,
                              const bf16_bits* dout, int64_t N, int64_t C,
                              int64_t V, cudaStream_t stream);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_EMBEDDING_H_
