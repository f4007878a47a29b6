// File: models/kernels/cuda/embedding.cu
//
// Embedding kernels (see embedding.h). Backward: grid (channel blocks,
// vocabulary partitions); each block streams the token ids through shared
// memory in tiles and adds dout rows whose id falls in its partition
// (id % P == blockIdx.y) into the channels it owns. The partition test is
// uniform across the block, so there is no divergence.
#include "models/kernels/cuda/embedding.h"

#include "models/kernels/cuda/device_common.h"

namespace hs::kernels::cuda {
namespace {

using detail::bf16;
using detail::Ld;

__global__ void EmbeddingForwardKernel(bf16* out, const int32_t* tokens,
                                       const bf16* table, int64_t N,
                                       int64_t C, int64_t V) {
  const int64_t total = N * C;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total;
       k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = k / C, c = k - n * C;
    const int64_t t = tokens[n];
    out[k] = (t >= 0 && t < V) ? table[t * C + c] : __float2bfloat16_rn(0.0f);
  }
}

__global__ void EmbeddingBackwardKernel(float* dtable, const int32_t* tokens,
                                        const bf16* dout, int64_t N,
                                        int64_t C, int64_t V) {
  extern __shared__ int32_t tile[];  // [kEmbeddingTokenTile]
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t parts = gridDim.y, part = blockIdx.y;
  for (int64_t base = 0; base < N; base += kEmbeddingTokenTile) {
    const int64_t count =
        N - base < kEmbeddingTokenTile ? N - base : kEmbeddingTokenTile;
    __syncthreads();  // the previous tile is fully consumed
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      tile[j] = tokens[base + j];
    }
    __syncthreads();
    if (c >= C) continue;
    for (int64_t j = 0; j < count; ++j) {
      const int64_t t = tile[j];
      if (t < 0 || t >= V || t % parts != part) continue;
      dtable[t * C + c] += Ld(dout, (base + j) * C + c);
    }
  }
}

}  // namespace

cudaError_t EmbeddingForward(bf16_bits* out, const int32_t* tokens,
                             const bf16_bits* table, int64_t N, int64_t C,
                             int64_t V, cudaStream_t stream) {
  if (N * C == 0) return cudaSuccess;
  const LaunchShape s = ElementwiseShape(N * C);
  if (!s.ok() || V <= 0) return cudaErrorInvalidValue;
  EmbeddingForwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(out), tokens, detail::AsBf16(table), N, C, V);
  return cudaGetLastError();
}

cudaError_t EmbeddingBackward(float* dtable, const int32_t* tokens,
                              const bf16_bits* dout, int64_t N, int64_t C,
                              int64_t V, cudaStream_t stream) {
  if (N * C == 0) return cudaSuccess;
  const LaunchShape s = EmbeddingBackwardShape(N, C, V);
  if (!s.ok()) return cudaErrorInvalidValue;
  EmbeddingBackwardKernel<<<dim3(unsigned(s.grid_x), unsigned(s.grid_y)),
                            s.block, size_t(s.smem_bytes), stream>>>(
      dtable, tokens, detail::AsBf16(dout), N, C, V);
  return cudaGetLastError();
}

}  // namespace hs::kernels::cuda
