// File: models/kernels/cuda/moe.cu
//
// MoE routing kernels (see moe.h for the math, launch.h for the shapes).
//
// Router softmax and top-k: one warp per token. Top-k is K rounds of a
// warp arg-max over the token's scores in shared memory, ordered by
// (score desc, index asc), exactly cpu::TopKSelect's comparator; a chosen
// or ineligible expert is marked NaN (Key() never yields NaN, it maps NaN
// scores to -inf as the CPU does). Group-limited: the group scores go
// through the same arg-max rounds first.
//
// Permute, three kernels, no atomics on the data path:
//   1. count: one warp per chunk of kPermuteChunk slots, 32 slots per
//      round; __match_any_sync groups the lanes with the same expert, so a
//      slot's rank within its chunk = the chunk's earlier count for that
//      expert + the lower lanes of its group. Writes the rank to slot_row
//      and the chunk's per-expert counts to scratch[chunk, E].
//   2. scan (one block): per expert, exclusive prefix over the chunks;
//      expert_offsets = exclusive prefix of the totals; scratch becomes
//      the global base row of (chunk, expert).
//   3. gather: one block per slot: slot_row = base + rank, copy x's row.
// Row kernels (combine and the backwards): one block per token, threads
// over the channels; the K slots are visited in k order.
#include "models/kernels/cuda/moe.h"

#include <math_constants.h>

#include <climits>

#include "models/kernels/cuda/device_common.h"

namespace hs::kernels::cuda {
namespace {

using detail::bf16;
using detail::BlockSum;
using detail::Ld;
using detail::St;
using detail::WarpSum;

// ---------------------------------------------------------------- router
__global__ void RouterSoftmaxKernel(float* probs, const float* logits,
                                    int64_t N, int E) {
  const int64_t n = int64_t(blockIdx.x) * kMoeWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (n >= N) return;
  const float* x = logits + n * E;
  float* p = probs + n * E;
  float mx = -CUDART_INF_F;
  for (int e = lane; e < E; e += 32) mx = fmaxf(mx, x[e]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  double sum = 0.0;
  for (int e = lane; e < E; e += 32) {
    const float v = expf(x[e] - mx);
    p[e] = v;
    sum += v;
  }
  sum = WarpSum(sum);
  const float inv = float(1.0 / sum);
  __syncwarp();
  for (int e = lane; e < E; e += 32) p[e] *= inv;  // each lane its own e
}

__global__ void RouterSoftmaxBackwardKernel(float* dlogits, const float* dprobs,
                                            const float* probs, int64_t N, int E) {
  const int64_t n = int64_t(blockIdx.x) * kMoeWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (n >= N) return;
  const float* dp = dprobs + n * E;
  const float* p = probs + n * E;
  double dot = 0.0;
  for (int e = lane; e < E; e += 32) dot += double(dp[e]) * double(p[e]);
  const float fdot = float(WarpSum(dot));
  for (int e = lane; e < E; e += 32) dlogits[n * E + e] = p[e] * (dp[e] - fdot);
}

__device__ __forceinline__ float Key(float x) { return isnan(x) ? -CUDART_INF_F : x; }

// WarpArgMax: the best (value desc, index asc) of v[0..n) skipping NaN
// entries (taken / ineligible); every lane gets the index (INT_MAX if none).
__device__ int WarpArgMax(const float* v, int n) {
  const int lane = threadIdx.x & 31;
  float bv = -CUDART_INF_F;
  int bi = INT_MAX;
  for (int i = lane; i < n; i += 32) {
    const float x = v[i];
    if (isnan(x)) continue;
    if (x > bv || (x == bv && i < bi)) {
      bv = x;
      bi = i;
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (oi != INT_MAX && (bi == INT_MAX || ov > bv || (ov == bv && oi < bi))) {
      bv = ov;
      bi = oi;
    }
  }
  return bi;
}

// smem per warp: sc[E] (keys), gs[n_group] (group keys).
__global__ void TopKKernel(int32_t* idx, float* weight, const float* scores,
                           int64_t N, int E, int K, int n_group,
                           int topk_group) {
  extern __shared__ float moe_smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kMoeWarps + warp;
  if (n >= N) return;
  float* sc = moe_smem + warp * (E + n_group);
  float* gs = sc + E;
  const float* s = scores + n * E;
  for (int e = lane; e < E; e += 32) sc[e] = Key(s[e]);
  __syncwarp();
  if (n_group > 0) {
    const int gsize = E / n_group;
    for (int g = lane; g < n_group; g += 32) {
      float best = sc[g * gsize];
      for (int e = 1; e < gsize; ++e) best = fmaxf(best, sc[g * gsize + e]);
      gs[g] = best;
    }
    __syncwarp();
    for (int r = 0; r < topk_group; ++r) {
      const int g = WarpArgMax(gs, n_group);
      __syncwarp();
      if (lane == 0 && g != INT_MAX) gs[g] = CUDART_NAN_F;  // NaN = kept group
      __syncwarp();
    }
    for (int e = lane; e < E; e += 32) {
      if (!isnan(gs[e / gsize])) sc[e] = CUDART_NAN_F;  // not in a kept group
    }
    __syncwarp();
  }
  for (int j = 0; j < K; ++j) {
    const int e = WarpArgMax(sc, E);
    __syncwarp();
    if (lane == 0) {
      // e == INT_MAX cannot happen for arguments MoeTopK accepts.
      const bool found = e != INT_MAX;
      idx[n * K + j] = found ? e : -1;
      weight[n * K + j] = found ? s[e] : CUDART_NAN_F;
      if (found) sc[e] = CUDART_NAN_F;  // taken
    }
    __syncwarp();
  }
}

// ---------------------------------------------------------------- permute
// CopyRow: dst[0..C) = src[0..C), 16-byte vectors when aligned.
__device__ void CopyRow(bf16* dst, const bf16* src, int64_t C) {
  const bool vec = C % 8 == 0 && ((reinterpret_cast<uintptr_t>(dst) |
                                   reinterpret_cast<uintptr_t>(src)) & 15) == 0;
  if (vec) {
    const uint4* s4 = reinterpret_cast<const uint4*>(src);
    uint4* d4 = reinterpret_cast<uint4*>(dst);
    for (int64_t i = threadIdx.x; i < C / 8; i += blockDim.x) d4[i] = s4[i];
  } else {
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x) dst[i] = src[i];
  }
}

// block 4 warps, smem 4*E ints; warp w of block b owns chunk 4b + w.
__global__ void PermuteCountKernel(int32_t* chunk_counts, int32_t* slot_row,
                                   int* invalid_count, const int32_t* idx,
                                   int64_t slots, int E) {
  extern __shared__ int count_smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t chunk = int64_t(blockIdx.x) * 4 + warp;
  const int64_t s0 = chunk * kPermuteChunk;
  if (s0 >= slots) return;
  const int64_t s1 = min(slots, s0 + kPermuteChunk);
  int* cnt = count_smem + warp * E;
  for (int e = lane; e < E; e += 32) cnt[e] = 0;
  __syncwarp();
  int invalid = 0;
  for (int64_t base = s0; base < s1; base += 32) {
    const int64_t s = base + lane;
    const bool in = s < s1;
    const int e = in ? idx[s] : -1;
    const bool ok = in && e >= 0 && e < E;
    // Lanes without a valid expert get keys no real expert has.
    const unsigned peers = __match_any_sync(0xffffffffu, ok ? e : E + lane);
    const int before = ok ? cnt[e] : 0;
    if (ok) {
      slot_row[s] = before + __popc(peers & ((1u << lane) - 1u));
    } else if (in) {
      slot_row[s] = -1;
      ++invalid;
    }
    __syncwarp();
    if (ok && lane == __ffs(peers) - 1) cnt[e] = before + __popc(peers);
    __syncwarp();
  }
  for (int e = lane; e < E; e += 32) chunk_counts[chunk * E + e] = cnt[e];
  invalid = WarpSum(invalid);
  if (lane == 0 && invalid > 0 && invalid_count != nullptr) {
    atomicAdd(invalid_count, invalid);  // an integer count: order-free
  }
}

// one block of kPermuteScanThreads >= E threads; thread e owns expert e.
__global__ void PermuteScanKernel(int64_t* expert_offsets, int32_t* chunk_counts,
                                  int64_t chunks, int E) {
  __shared__ int64_t total[kMoeMaxExperts];
  const int e = threadIdx.x;
  if (e < E) {
    int64_t run = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      const int32_t v = chunk_counts[c * E + e];
      chunk_counts[c * E + e] = int32_t(run);  // exclusive, within expert e
      run += v;
    }
    total[e] = run;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t acc = 0;
    for (int x = 0; x < E; ++x) {
      const int64_t t = total[x];
      total[x] = acc;
      expert_offsets[x] = acc;
      acc += t;
    }
    expert_offsets[E] = acc;
  }
  __syncthreads();
  if (e < E) {
    for (int64_t c = 0; c < chunks; ++c) chunk_counts[c * E + e] += int32_t(total[e]);
  }
}

// one block per slot.
__global__ void PermuteGatherKernel(bf16* expert_in, int32_t* slot_row,
                                    const int32_t* chunk_base,
                                    const int32_t* idx, const bf16* x,
                                    int K, int64_t C, int E) {
  const int64_t s = blockIdx.x;
  const int32_t rank = slot_row[s];
  __syncthreads();  // every thread has read the rank before thread 0 rewrites it
  if (rank < 0) return;
  const int64_t row = chunk_base[(s / kPermuteChunk) * E + idx[s]] + rank;
  if (threadIdx.x == 0) slot_row[s] = int32_t(row);
  CopyRow(expert_in + row * C, x + (s / K) * C, C);
}

__global__ void PermuteBackwardKernel(bf16* dx, const bf16* dexpert_in,
                                      const int32_t* slot_row, int K, int64_t C) {
  const int64_t n = blockIdx.x;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = Ld(dx, n * C + c);
    for (int k = 0; k < K; ++k) {
      const int32_t r = slot_row[n * K + k];
      if (r >= 0) acc += Ld(dexpert_in, int64_t(r) * C + c);
    }
    dx[n * C + c] = St(acc);
  }
}

// ---------------------------------------------------------------- combine
__global__ void CombineKernel(bf16* y, const bf16* expert_out, const float* w,
                              const int32_t* slot_row, int K, int64_t C) {
  const int64_t n = blockIdx.x;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) {
      const int32_t r = slot_row[n * K + k];
      if (r >= 0) acc += w[n * K + k] * Ld(expert_out, int64_t(r) * C + c);
    }
    y[n * C + c] = St(acc);
  }
}

__global__ void CombineBackwardKernel(bf16* dexpert_out, float* dw,
                                      const bf16* dy, const bf16* expert_out,
                                      const float* w, const int32_t* slot_row,
                                      int K, int64_t C) {
  __shared__ double red[32];
  const int64_t n = blockIdx.x;
  for (int k = 0; k < K; ++k) {
    const int32_t r = slot_row[n * K + k];  // the same for the whole block
    if (r < 0) {
      if (threadIdx.x == 0) dw[n * K + k] = 0.0f;
      continue;
    }
    const float wk = w[n * K + k];
    double dot = 0.0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      const float g = Ld(dy, n * C + c);
      dexpert_out[int64_t(r) * C + c] = St(wk * g);
      dot += double(g) * double(Ld(expert_out, int64_t(r) * C + c));
    }
    dot = BlockSum(dot, red);
    if (threadIdx.x == 0) dw[n * K + k] = float(dot);
  }
}

}  // namespace

cudaError_t MoeRouterSoftmax(float* probs, const float* logits, int64_t N,
                             int64_t E, cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = MoeRouterShape(N, E, 0);
  if (!s.ok()) return cudaErrorInvalidValue;
  RouterSoftmaxKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(probs, logits, N, int(E));
  return cudaGetLastError();
}

cudaError_t MoeRouterSoftmaxBackward(float* dlogits, const float* dprobs,
                                     const float* probs, int64_t N, int64_t E,
                                     cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = MoeRouterShape(N, E, 0);
  if (!s.ok()) return cudaErrorInvalidValue;
  RouterSoftmaxBackwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      dlogits, dprobs, probs, N, int(E));
  return cudaGetLastError();
}

cudaError_t MoeTopK(int32_t* idx, float* weight, const float* scores,
                    int64_t N, int64_t E, int64_t K, bool group_limited,
                    int64_t n_group, int64_t topk_group, cudaStream_t stream) {
  if (K <= 0 || K > E) return cudaErrorInvalidValue;
  if (group_limited) {
    if (n_group <= 0 || E % n_group != 0 || topk_group <= 0 ||
        topk_group > n_group || K > topk_group * (E / n_group)) {
      return cudaErrorInvalidValue;
    }
  } else {
    n_group = 0;
    topk_group = 0;
  }
  if (N == 0) return cudaSuccess;
  const LaunchShape s = MoeRouterShape(N, E, n_group);
  if (!s.ok()) return cudaErrorInvalidValue;
  TopKKernel<<<unsigned(s.grid_x), s.block, size_t(s.smem_bytes), stream>>>(
      idx, weight, scores, N, int(E), int(K), int(n_group), int(topk_group));
  return cudaGetLastError();
}

int64_t MoePermuteScratchInts(int64_t slots, int64_t E) {
  return MoePermuteCountShape(slots, E).scratch_elems;
}

cudaError_t MoePermute(bf16_bits* expert_in, int64_t* expert_offsets,
                       int32_t* slot_row, int32_t* scratch, int* invalid_count,
                       const bf16_bits* x, const int32_t* idx, int64_t N,
                       int64_t K, int64_t C, int64_t E, cudaStream_t stream) {
  const int64_t slots = N * K;
  if (E <= 0 || E > kMoeMaxExperts || C <= 0 || slots >= INT32_MAX) {
    return cudaErrorInvalidValue;
  }
  if (slots == 0) {
    return cudaMemsetAsync(expert_offsets, 0, size_t(E + 1) * sizeof(int64_t), stream);
  }
  const LaunchShape count = MoePermuteCountShape(slots, E);
  const LaunchShape gather = MoeRowShape(slots, C);
  if (!count.ok() || !gather.ok()) return cudaErrorInvalidValue;
  PermuteCountKernel<<<unsigned(count.grid_x), count.block, size_t(count.smem_bytes),
                       stream>>>(scratch, slot_row, invalid_count, idx, slots, int(E));
  PermuteScanKernel<<<1, kPermuteScanThreads, 0, stream>>>(
      expert_offsets, scratch, MoePermuteChunks(slots), int(E));
  PermuteGatherKernel<<<unsigned(gather.grid_x), gather.block, 0, stream>>>(
      detail::AsBf16(expert_in), slot_row, scratch, idx, detail::AsBf16(x), int(K),
      C, int(E));
  return cudaGetLastError();
}

cudaError_t MoePermuteBackward(bf16_bits* dx, const bf16_bits* dexpert_in,
                               const int32_t* slot_row, int64_t N, int64_t K,
                               int64_t C, cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = MoeRowShape(N, C);
  if (!s.ok() || K <= 0) return cudaErrorInvalidValue;
  PermuteBackwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(dx), detail::AsBf16(dexpert_in), slot_row, int(K), C);
  return cudaGetLastError();
}

cudaError_t MoeCombine(bf16_bits* y, const bf16_bits* expert_out,
                       const float* weight, const int32_t* slot_row,
                       int64_t N, int64_t K, int64_t C, cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = MoeRowShape(N, C);
  if (!s.ok() || K <= 0) return cudaErrorInvalidValue;
  CombineKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(y), detail::AsBf16(expert_out), weight, slot_row, int(K), C);
  return cudaGetLastError();
}

cudaError_t MoeCombineBackward(bf16_bits* dexpert_out, float* dweight,
                               const bf16_bits* dy,
                               const bf16_bits* expert_out,
                               const float* weight, const int32_t* slot_row,
                               int64_t N, int64_t K, int64_t C,
                               cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  const LaunchShape s = MoeRowShape(N, C);
  if (!s.ok() || K <= 0) return cudaErrorInvalidValue;
  CombineBackwardKernel<<<unsigned(s.grid_x), s.block, 0, stream>>>(
      detail::AsBf16(dexpert_out), dweight, detail::AsBf16(dy),
      detail::AsBf16(expert_out), weight, slot_row, int(K), C);
  return cudaGetLastError();
}

}  // namespace hs::kernels::cuda
