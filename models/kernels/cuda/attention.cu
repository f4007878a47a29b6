// File: models/kernels/cuda/attention.cu
//
// Causal flash attention kernels (see attention.h for the math and
// launch.h, AttentionForwardPlan & co., for tiles and shared memory).
//
// Building block: BlockMma, C[M,N] (fp32, shared) (+)= A[M,K] @ op(B) with
// bf16 A, B in shared memory, M, N, K multiples of 16. Its 16x16 output
// tiles are dealt round-robin to the block's warps; each tile is one WMMA
// accumulator fed by K/16 mma_syncs, loaded from / stored to C. Keeping
// every accumulator in shared memory (not in fragments) lets plain threads
// rescale output rows (online softmax) between MMAs and makes the kernels
// independent of the head dims at compile time.
//
// Phases of every kernel's loop, separated by __syncthreads():
//   load the streamed tile(s) -> score MMA(s) -> element-wise softmax /
//   gradient step -> accumulate MMA(s).
// Masked and padded positions get probability exactly 0, and padded rows
// and columns of the bf16 tiles are zero, so no NaN from uninitialised
// shared memory reaches an MMA.
#include "models/kernels/cuda/attention.h"

#include <math_constants.h>
#include <mma.h>

#include <type_traits>

#include "models/kernels/cuda/device_common.h"

namespace hs::kernels::cuda {
namespace {

namespace wmma = nvcuda::wmma;
using detail::bf16;
using detail::St;
using detail::WarpSum;

// Problem: the sizes every kernel needs besides the plan.
struct Problem {
  int64_t B, T, H, Dk, Dv;
  float scale;
  const int32_t* positions;  // [B,T] packed-document positions, or nullptr
};

// SegmentStart: the first key query t of batch row b may see (0 without
// positions: plain causal attention).
__device__ __forceinline__ int64_t SegmentStart(const Problem& P, int64_t b, int64_t t) {
  if (P.positions == nullptr || t >= P.T) return 0;
  const int64_t s = t - int64_t(P.positions[b * P.T + t]);
  return s < 0 ? 0 : (s > t ? t : s);
}

// Visible: key s is visible to query t (causal, same document).
__device__ __forceinline__ bool Visible(const Problem& P, int64_t b, int64_t t, int64_t s) {
  return t < P.T && s <= t && s >= SegmentStart(P, b, t);
}

// FirstVisibleKey: the smallest segment start over queries [q0, q0 + rows),
// computed by thread 0 into *out (followed by a __syncthreads): keys before
// it are masked for the whole tile.
__device__ void FirstVisibleKey(int64_t* out, const Problem& P, int64_t b, int64_t q0, int rows) {
  if (threadIdx.x == 0) {
    int64_t first = q0;
    for (int i = 0; i < rows && q0 + i < P.T; ++i) {
      const int64_t s = SegmentStart(P, b, q0 + i);
      first = s < first ? s : first;
    }
    *out = first;
  }
  __syncthreads();
}

template <typename T>
__device__ __forceinline__ T* Region(unsigned char* smem, int64_t off) {
  return reinterpret_cast<T*>(smem + off);
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// LoadRows: dst[r][d] (stride ld) = row t0 + r of src (row t at
// src + t * stride), element d; zero for t >= T or d >= D; d < pad.
// 16-byte vectors when D, stride and src allow it.
__device__ void LoadRows(bf16* dst, int ld, const bf16* src, int64_t stride,
                         int64_t t0, int rows, int64_t T, int D, int pad) {
  const bool vec = D % 8 == 0 && stride % 8 == 0 &&
                   (reinterpret_cast<uintptr_t>(src) & 15) == 0;
  if (vec) {
    const int per_row = pad / 8;
    for (int i = threadIdx.x; i < rows * per_row; i += blockDim.x) {
      const int r = i / per_row, d = (i % per_row) * 8;
      const int64_t t = t0 + r;
      uint4 val = make_uint4(0u, 0u, 0u, 0u);
      if (t < T && d < D) val = *reinterpret_cast<const uint4*>(src + t * stride + d);
      *reinterpret_cast<uint4*>(dst + r * ld + d) = val;
    }
  } else {
    for (int i = threadIdx.x; i < rows * pad; i += blockDim.x) {
      const int r = i / pad, d = i % pad;
      const int64_t t = t0 + r;
      dst[r * ld + d] = (t < T && d < D) ? src[t * stride + d] : St(0.0f);
    }
  }
}

__device__ void Fill(float* p, int n, float value) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) p[i] = value;
}

// BlockMma: C[M,N] (ldc) = (accumulate ? C : 0) + A[M,K] (lda) @ op(B).
// kBTransposed: B is stored [N,K] (ldb) and op(B) = B^T (a dot product of
// rows: q.k); else B is stored [K,N] (ldb). Contains no barrier.
template <bool kBTransposed>
__device__ void BlockMma(float* C, int ldc, const bf16* A, int lda,
                         const bf16* B, int ldb, int M, int N, int K,
                         bool accumulate) {
  const int warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int tiles_n = N / 16, tiles = (M / 16) * tiles_n;
  using BLayout = typename std::conditional<kBTransposed, wmma::col_major,
                                            wmma::row_major>::type;
  for (int tile = warp; tile < tiles; tile += warps) {
    const int r = (tile / tiles_n) * 16, c = (tile % tiles_n) * 16;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    if (accumulate) {
      wmma::load_matrix_sync(acc, C + r * ldc + c, ldc, wmma::mem_row_major);
    } else {
      wmma::fill_fragment(acc, 0.0f);
    }
    for (int k = 0; k < K; k += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, BLayout> b;
      wmma::load_matrix_sync(a, A + r * lda + k, lda);
      // col_major (k, n) at ptr[n * ldb + k] = B[c + n][k]; row_major
      // (k, n) at ptr[k * ldb + n] = B[k][c + n].
      wmma::load_matrix_sync(b, kBTransposed ? B + c * ldb + k : B + k * ldb + c, ldb);
      wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(C + r * ldc + c, acc, ldc, wmma::mem_row_major);
  }
}

// Head: the (b, h) of a block and the base pointers of that head.
struct Head {
  int64_t b, h, tile;
  __device__ int64_t QkOff(const Problem& P) const { return (b * P.T * P.H + h) * P.Dk; }
  __device__ int64_t VOff(const Problem& P) const { return (b * P.T * P.H + h) * P.Dv; }
  __device__ int64_t RowOff(const Problem& P) const { return (b * P.H + h) * P.T; }
};

// BlockHead: blocks are tile-major; heavy_first_last: the last tile is the
// most expensive (forward, dQ), else the first one is (dK/dV).
__device__ __forceinline__ Head BlockHead(const Problem& P, int64_t tiles,
                                          bool heavy_last) {
  const int64_t BH = P.B * P.H;
  const int64_t rank = int64_t(blockIdx.x) / BH, bh = int64_t(blockIdx.x) % BH;
  return {bh / P.H, bh % P.H, heavy_last ? tiles - 1 - rank : rank};
}

// ---------------------------------------------------------------- forward
__global__ void __launch_bounds__(kAttnThreads)
AttentionForwardKernel(bf16* out, float* lse, const bf16* q, const bf16* k,
                       const bf16* v, Problem P, AttentionPlan L) {
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sQ = Region<bf16>(smem, L.off_q);
  bf16* sK = Region<bf16>(smem, L.off_k);
  bf16* sV = Region<bf16>(smem, L.off_v);
  float* sS = Region<float>(smem, L.off_s);
  bf16* sP = Region<bf16>(smem, L.off_p);
  float* sO = Region<float>(smem, L.off_acc_v);
  float* sM = Region<float>(smem, L.off_rows);  // running max
  float* sL = sM + L.rows_q;                     // running sum
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  const Head hd = BlockHead(P, L.tiles, /*heavy_last=*/true);
  const int64_t q0 = hd.tile * L.rows_q;
  const int64_t qk_stride = P.H * P.Dk, v_stride = P.H * P.Dv;
  const bf16* kh = k + hd.QkOff(P);
  const bf16* vh = v + hd.VOff(P);
  LoadRows(sQ, L.ld_qk, q + hd.QkOff(P), qk_stride, q0, L.rows_q, P.T,
           int(P.Dk), L.dk_pad);
  Fill(sO, L.rows_q * L.ld_acc_v, 0.0f);
  Fill(sM, L.rows_q, -CUDART_INF_F);
  Fill(sL, L.rows_q, 0.0f);
  // Keys past the tile's last query are masked for every row: stop there;
  // keys before every row's document likewise: start at that tile.
  const int64_t k_end = min(P.T, q0 + L.rows_q);
  __shared__ int64_t s_first;
  FirstVisibleKey(&s_first, P, hd.b, q0, L.rows_q);
  for (int64_t k0 = s_first / L.rows_k * L.rows_k; k0 < k_end; k0 += L.rows_k) {
    __syncthreads();  // the previous tile's readers of sK, sV, sP are done
    LoadRows(sK, L.ld_qk, kh, qk_stride, k0, L.rows_k, P.T, int(P.Dk), L.dk_pad);
    LoadRows(sV, L.ld_v, vh, v_stride, k0, L.rows_k, P.T, int(P.Dv), L.dv_pad);
    __syncthreads();
    BlockMma<true>(sS, L.ld_s, sQ, L.ld_qk, sK, L.ld_qk, L.rows_q, L.rows_k,
                   L.dk_pad, false);  // S = Q K^T (unscaled)
    __syncthreads();
    // Online softmax, one warp per query row.
    for (int r = warp; r < L.rows_q; r += warps) {
      const int64_t t = q0 + r;
      const float m_old = sM[r], l_old = sL[r];
      const float* s = sS + r * L.ld_s;
      float mx = -CUDART_INF_F;
      for (int j = lane; j < L.rows_k; j += 32) {
        if (Visible(P, hd.b, t, k0 + j)) mx = fmaxf(mx, s[j] * P.scale);
      }
      const float m_new = fmaxf(m_old, WarpMax(mx));
      // exp(-inf) = 0 rescales nothing on a row's first tile; a row with no
      // visible key yet (padding rows) keeps alpha = 1.
      const float alpha = m_new == -CUDART_INF_F ? 1.0f : expf(m_old - m_new);
      float psum = 0.0f;
      for (int j = lane; j < L.rows_k; j += 32) {
        float p = 0.0f;
        if (Visible(P, hd.b, t, k0 + j)) p = expf(s[j] * P.scale - m_new);
        psum += p;
        sP[r * L.ld_p + j] = St(p);
      }
      psum = WarpSum(psum);
      float* o = sO + r * L.ld_acc_v;
      for (int e = lane; e < L.dv_pad; e += 32) o[e] *= alpha;
      if (lane == 0) {
        sM[r] = m_new;
        sL[r] = l_old * alpha + psum;
      }
    }
    __syncthreads();
    BlockMma<false>(sO, L.ld_acc_v, sP, L.ld_p, sV, L.ld_v, L.rows_q,
                    L.dv_pad, L.rows_k, true);  // O += P V
  }
  __syncthreads();
  for (int r = warp; r < L.rows_q; r += warps) {
    const int64_t t = q0 + r;
    if (t >= P.T) continue;
    const float l = sL[r], inv_l = 1.0f / l;
    bf16* dst = out + hd.VOff(P) + t * v_stride;
    const float* o = sO + r * L.ld_acc_v;
    for (int e = lane; e < P.Dv; e += 32) dst[e] = St(o[e] * inv_l);
    if (lane == 0) lse[hd.RowOff(P) + t] = sM[r] + logf(l);
  }
}

// ------------------------------------------------------------- backward
// dsum[b,h,t] = sum_e dout * out; one warp per (b, t, h) row.
__global__ void AttentionRowDotKernel(float* dsum, const bf16* dout,
                                      const bf16* out, Problem P) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= P.B * P.T * P.H) return;
  const bf16* d = dout + row * P.Dv;
  const bf16* o = out + row * P.Dv;
  float acc = 0.0f;
  for (int64_t e = lane; e < P.Dv; e += 32) {
    acc += __bfloat162float(d[e]) * __bfloat162float(o[e]);
  }
  acc = WarpSum(acc);
  const int64_t h = row % P.H, t = (row / P.H) % P.T, b = row / (P.H * P.T);
  if (lane == 0) dsum[(b * P.H + h) * P.T + t] = acc;
}

// LoadRowStats: lse and dsum of queries [q0, q0 + rows) (0 past T).
__device__ void LoadRowStats(float* s_lse, float* s_dsum, const float* lse,
                             const float* dsum, int64_t q0, int rows,
                             int64_t T) {
  for (int i = threadIdx.x; i < rows; i += blockDim.x) {
    const bool in = q0 + i < T;
    s_lse[i] = in ? lse[q0 + i] : 0.0f;
    s_dsum[i] = in ? dsum[q0 + i] : 0.0f;
  }
}

// dK, dV of 32 keys [k0, k0 + 32); walks the query tiles t >= k0.
__global__ void __launch_bounds__(kAttnThreads)
AttentionBackwardKvKernel(bf16* dk, bf16* dv, const bf16* dout, const bf16* q,
                          const bf16* k, const bf16* v, const float* lse,
                          const float* dsum, Problem P, AttentionPlan L) {
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sK = Region<bf16>(smem, L.off_k);
  bf16* sV = Region<bf16>(smem, L.off_v);
  bf16* sQ = Region<bf16>(smem, L.off_q);
  bf16* sDO = Region<bf16>(smem, L.off_dout);
  float* sST = Region<float>(smem, L.off_s);    // S^T [key][query]
  float* sDPT = Region<float>(smem, L.off_dp);  // dP^T
  bf16* sPT = Region<bf16>(smem, L.off_p);
  bf16* sDST = Region<bf16>(smem, L.off_ds);    // scale * dS^T
  float* sDK = Region<float>(smem, L.off_acc_k);
  float* sDV = Region<float>(smem, L.off_acc_v);
  float* sLse = Region<float>(smem, L.off_rows);
  float* sD = sLse + L.rows_q;
  const Head hd = BlockHead(P, L.tiles, /*heavy_last=*/false);
  const int64_t k0 = hd.tile * L.rows_k;
  const int64_t qk_stride = P.H * P.Dk, v_stride = P.H * P.Dv;
  const bf16* qh = q + hd.QkOff(P);
  const bf16* doh = dout + hd.VOff(P);
  LoadRows(sK, L.ld_qk, k + hd.QkOff(P), qk_stride, k0, L.rows_k, P.T,
           int(P.Dk), L.dk_pad);
  LoadRows(sV, L.ld_v, v + hd.VOff(P), v_stride, k0, L.rows_k, P.T,
           int(P.Dv), L.dv_pad);
  Fill(sDK, L.rows_k * L.ld_acc_k, 0.0f);
  Fill(sDV, L.rows_k * L.ld_acc_v, 0.0f);
  const int nq = L.rows_q, nk = L.rows_k;
  __shared__ int64_t s_first;
  for (int64_t q0 = k0; q0 < P.T; q0 += nq) {
    __syncthreads();  // the previous tile's readers of sQ, sDO, sPT, sDST are done
    // A query tile whose documents all start after these keys adds nothing.
    FirstVisibleKey(&s_first, P, hd.b, q0, nq);
    if (s_first >= k0 + nk) continue;  // the same for the whole block
    LoadRows(sQ, L.ld_qk, qh, qk_stride, q0, nq, P.T, int(P.Dk), L.dk_pad);
    LoadRows(sDO, L.ld_v, doh, v_stride, q0, nq, P.T, int(P.Dv), L.dv_pad);
    LoadRowStats(sLse, sD, lse + hd.RowOff(P), dsum + hd.RowOff(P), q0, nq, P.T);
    __syncthreads();
    BlockMma<true>(sST, L.ld_s, sK, L.ld_qk, sQ, L.ld_qk, nk, nq, L.dk_pad,
                   false);  // S^T = K Q^T
    BlockMma<true>(sDPT, L.ld_s, sV, L.ld_v, sDO, L.ld_v, nk, nq, L.dv_pad,
                   false);  // dP^T = V dO^T
    __syncthreads();
    for (int idx = threadIdx.x; idx < nk * nq; idx += blockDim.x) {
      const int j = idx / nq, i = idx % nq;
      const int64_t t = q0 + i;
      float p = 0.0f, ds = 0.0f;
      if (Visible(P, hd.b, t, k0 + j)) {
        p = expf(sST[j * L.ld_s + i] * P.scale - sLse[i]);  // P_ij from lse
        ds = p * (sDPT[j * L.ld_s + i] - sD[i]);             // dS_ij
      }
      sPT[j * L.ld_p + i] = St(p);
      sDST[j * L.ld_p + i] = St(P.scale * ds);
    }
    __syncthreads();
    BlockMma<false>(sDV, L.ld_acc_v, sPT, L.ld_p, sDO, L.ld_v, nk, L.dv_pad,
                    nq, true);  // dV += P^T dO
    BlockMma<false>(sDK, L.ld_acc_k, sDST, L.ld_p, sQ, L.ld_qk, nk, L.dk_pad,
                    nq, true);  // dK += scale * dS^T Q
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < nk * L.dk_pad; idx += blockDim.x) {
    const int j = idx / L.dk_pad, d = idx % L.dk_pad;
    if (k0 + j < P.T && d < P.Dk) {
      dk[hd.QkOff(P) + (k0 + j) * qk_stride + d] = St(sDK[j * L.ld_acc_k + d]);
    }
  }
  for (int idx = threadIdx.x; idx < nk * L.dv_pad; idx += blockDim.x) {
    const int j = idx / L.dv_pad, e = idx % L.dv_pad;
    if (k0 + j < P.T && e < P.Dv) {
      dv[hd.VOff(P) + (k0 + j) * v_stride + e] = St(sDV[j * L.ld_acc_v + e]);
    }
  }
}

// dQ of 64 queries [q0, q0 + 64); walks the key tiles k < q0 + 64.
__global__ void __launch_bounds__(kAttnThreads)
AttentionBackwardQKernel(bf16* dq, const bf16* dout, const bf16* q,
                         const bf16* k, const bf16* v, const float* lse,
                         const float* dsum, Problem P, AttentionPlan L) {
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sQ = Region<bf16>(smem, L.off_q);
  bf16* sDO = Region<bf16>(smem, L.off_dout);
  bf16* sK = Region<bf16>(smem, L.off_k);
  bf16* sV = Region<bf16>(smem, L.off_v);
  float* sS = Region<float>(smem, L.off_s);
  float* sDP = Region<float>(smem, L.off_dp);
  bf16* sDS = Region<bf16>(smem, L.off_ds);  // scale * dS
  float* sDQ = Region<float>(smem, L.off_acc_k);
  float* sLse = Region<float>(smem, L.off_rows);
  float* sD = sLse + L.rows_q;
  const Head hd = BlockHead(P, L.tiles, /*heavy_last=*/true);
  const int nq = L.rows_q, nk = L.rows_k;
  const int64_t q0 = hd.tile * nq;
  const int64_t qk_stride = P.H * P.Dk, v_stride = P.H * P.Dv;
  const bf16* kh = k + hd.QkOff(P);
  const bf16* vh = v + hd.VOff(P);
  LoadRows(sQ, L.ld_qk, q + hd.QkOff(P), qk_stride, q0, nq, P.T, int(P.Dk),
           L.dk_pad);
  LoadRows(sDO, L.ld_v, dout + hd.VOff(P), v_stride, q0, nq, P.T, int(P.Dv),
           L.dv_pad);
  LoadRowStats(sLse, sD, lse + hd.RowOff(P), dsum + hd.RowOff(P), q0, nq, P.T);
  Fill(sDQ, nq * L.ld_acc_k, 0.0f);
  const int64_t k_end = min(P.T, q0 + nq);
  __shared__ int64_t s_first;
  FirstVisibleKey(&s_first, P, hd.b, q0, nq);
  for (int64_t k0 = s_first / nk * nk; k0 < k_end; k0 += nk) {
    __syncthreads();  // the previous tile's readers of sK, sV, sDS are done
    LoadRows(sK, L.ld_qk, kh, qk_stride, k0, nk, P.T, int(P.Dk), L.dk_pad);
    LoadRows(sV, L.ld_v, vh, v_stride, k0, nk, P.T, int(P.Dv), L.dv_pad);
    __syncthreads();
    BlockMma<true>(sS, L.ld_s, sQ, L.ld_qk, sK, L.ld_qk, nq, nk, L.dk_pad,
                   false);  // S = Q K^T
    BlockMma<true>(sDP, L.ld_s, sDO, L.ld_v, sV, L.ld_v, nq, nk, L.dv_pad,
                   false);  // dP = dO V^T
    __syncthreads();
    for (int idx = threadIdx.x; idx < nq * nk; idx += blockDim.x) {
      const int i = idx / nk, j = idx % nk;
      const int64_t t = q0 + i;
      float ds = 0.0f;
      if (Visible(P, hd.b, t, k0 + j)) {
        const float p = expf(sS[i * L.ld_s + j] * P.scale - sLse[i]);
        ds = p * (sDP[i * L.ld_s + j] - sD[i]);
      }
      sDS[i * L.ld_p + j] = St(P.scale * ds);
    }
    __syncthreads();
    BlockMma<false>(sDQ, L.ld_acc_k, sDS, L.ld_p, sK, L.ld_qk, nq, L.dk_pad,
                    nk, true);  // dQ += scale * dS K
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < nq * L.dk_pad; idx += blockDim.x) {
    const int i = idx / L.dk_pad, d = idx % L.dk_pad;
    if (q0 + i < P.T && d < P.Dk) {
      dq[hd.QkOff(P) + (q0 + i) * qk_stride + d] = St(sDQ[i * L.ld_acc_k + d]);
    }
  }
}

// Prepare: checks the plan's shared memory against the device's opt-in
// limit and raises the kernel's dynamic shared-memory cap to it.
template <typename Kernel>
cudaError_t Prepare(Kernel kernel, const AttentionPlan& plan) {
  if (!plan.shape.ok()) return cudaErrorInvalidValue;
  int dev = 0, optin = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err != cudaSuccess) return err;
  err = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (err != cudaSuccess) return err;
  if (plan.shape.smem_bytes > optin) return cudaErrorInvalidValue;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              int(plan.shape.smem_bytes));
}

}  // namespace

cudaError_t AttentionForward(bf16_bits* out, float* lse, const bf16_bits* q,
                             const bf16_bits* k, const bf16_bits* v,
                             int64_t B, int64_t T, int64_t H, int64_t Dk,
                             int64_t Dv, float scale, cudaStream_t stream,
                             const int32_t* positions) {
  if (B == 0 || T == 0 || H == 0) return cudaSuccess;
  const AttentionPlan plan = AttentionForwardPlan(B, T, H, Dk, Dv);
  cudaError_t err = Prepare(AttentionForwardKernel, plan);
  if (err != cudaSuccess) return err;
  const Problem P{B, T, H, Dk, Dv, scale, positions};
  AttentionForwardKernel<<<unsigned(plan.shape.grid_x), plan.shape.block,
                           size_t(plan.shape.smem_bytes), stream>>>(
      detail::AsBf16(out), lse, detail::AsBf16(q), detail::AsBf16(k),
      detail::AsBf16(v), P, plan);
  return cudaGetLastError();
}

cudaError_t AttentionBackward(bf16_bits* dq, bf16_bits* dk, bf16_bits* dv,
                              float* dsum, const bf16_bits* dout,
                              const bf16_bits* q, const bf16_bits* k,
                              const bf16_bits* v, const bf16_bits* out,
                              const float* lse, int64_t B, int64_t T,
                              int64_t H, int64_t Dk, int64_t Dv, float scale,
                              cudaStream_t stream, const int32_t* positions) {
  if (B == 0 || T == 0 || H == 0) return cudaSuccess;
  const AttentionPlan kv = AttentionBackwardKvPlan(B, T, H, Dk, Dv);
  const AttentionPlan qp = AttentionBackwardQPlan(B, T, H, Dk, Dv);
  const LaunchShape rd = AttentionRowDotShape(B, T, H);
  if (!rd.ok()) return cudaErrorInvalidValue;
  cudaError_t err = Prepare(AttentionBackwardKvKernel, kv);
  if (err != cudaSuccess) return err;
  err = Prepare(AttentionBackwardQKernel, qp);
  if (err != cudaSuccess) return err;
  const Problem P{B, T, H, Dk, Dv, scale, positions};
  AttentionRowDotKernel<<<unsigned(rd.grid_x), rd.block, 0, stream>>>(
      dsum, detail::AsBf16(dout), detail::AsBf16(out), P);
  AttentionBackwardKvKernel<<<unsigned(kv.shape.grid_x), kv.shape.block,
                              size_t(kv.shape.smem_bytes), stream>>>(
      detail::AsBf16(dk), detail::AsBf16(dv), detail::AsBf16(dout),
      detail::AsBf16(q), detail::AsBf16(k), detail::AsBf16(v), lse, dsum, P, kv);
  AttentionBackwardQKernel<<<unsigned(qp.shape.grid_x), qp.shape.block,
                             size_t(qp.shape.smem_bytes), stream>>>(
      detail::AsBf16(dq), detail::AsBf16(dout), detail::AsBf16(q),
      detail::AsBf16(k), detail::AsBf16(v), lse, dsum, P, qp);
  return cudaGetLastError();
}

}  // namespace hs::kernels::cuda
