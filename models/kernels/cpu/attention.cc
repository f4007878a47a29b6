// File: models/kernels/cpu/attention.cc
//
// Causal flash attention on the CPU (FlashAttention-2, Dao 2023, §3.1), in
// 64-query x 256-key tiles in the forward, 256-query x 64-key tiles in the
// backward. Where the CPU has AVX-512, the tile products run through the
// register-blocked kernels of internal/tile_gemm.h (K = 32-256 products
// straight from L1/L2, 15-25% faster than through the BLAS GEMM, which
// packs its operands first) and the element-wise tile loops (exp, max, sums)
// are AVX-512 too; elsewhere the products are BLAS GEMM calls. On the
// diagonal tiles the tile kernels skip what the causal mask discards (the
// scores of later keys, the zero probabilities of PV and dS K).
//
// Forward, one task per (b, h, query block Qi of kBq rows), in parallel:
//   for each key block Kj (kFwdBk keys) that some query of Qi can see:
//     S  = scale * Qi Kj^T               [nq, nk]   (GEMM, causal mask after)
//     m' = max(m, rowmax S);  P = exp(S - m');  a = exp(m - m')
//     l  = a*l + rowsum P;    O = a*O + P Vj          (GEMM)
//   out = O / l;  lse = m + log l
// Only one S tile (kBq x kFwdBk floats) exists per thread; up to 256
// tokens one key block covers the whole causal row, so no rescaling.
//
// Backward, with P recomputed from lse (no stored probabilities):
//   D_i  = rowsum(dout_i * out_i)
//   dV_j = sum_i P_ij^T dout_i          dP_ij = dout_i V_j^T
//   dS   = P (dP - D)                   dK_j  = scale * sum_i dS_ij^T Q_i
//   dQ_i = scale * sum_j dS_ij K_j
// To stay free of atomics (and deterministic for every thread count), a
// task owns the gradients it writes, and its GEMMs accumulate straight into
// those rows of dq/dk/dv. Queries go in chunks of 256 rows aligned to 256;
// key block j meets the rows of a chunk from its first key on. With enough
// (b, h) pairs for the threads, one task per (b, h) walks key blocks j and
// the chunks from j's on once, owning dK/dV of block j and dQ of all its
// rows. With fewer, two passes share the work more finely: one task per
// (b, h, key block) owns dK/dV and walks the chunks from its own on; then
// one task per (b, h, query chunk) owns dQ and walks the key blocks,
// recomputing S, P and dP (about 1.4x the FLOPs). Every tile is the same
// GEMM calls on the same rows in both, so both give the same bits.
// With positions (packed documents) the scores of keys before a query's
// document start are -inf as well, and key blocks that no query of a block
// can see are skipped in all three loops.
// Inside a task the products run single-threaded (OpenMP does not nest),
// so parallelism is over the B*H*blocks tasks. Each output element of a
// tile product is one sum in a fixed order, so the bits do not depend on
// the thread count.
//
// Usage:
//   AttentionForward(out, lse, q, k, v, B, T, H, Dk, Dv, 1/sqrt(Dk));
//   AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, B, T, H, Dk, Dv,
//                     1/sqrt(Dk));
#include "models/kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <omp.h>

#include "haiscale/logging.h"
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/internal/cpu_features.h"
#include "models/kernels/cpu/internal/exp.h"
#include "models/kernels/cpu/internal/row_max.h"
#include "models/kernels/cpu/internal/tile_gemm.h"

namespace hs::kernels::cpu {
namespace {

constexpr int64_t kBq = 64;  // query rows per block
constexpr int64_t kBk = 64;  // backward keys per block (== kBq: diagonal blocks align)
// Forward keys per block: a multiple of kBq, wide enough that sequences up
// to 256 tokens take one QK^T and one PV GEMM per query block (fewer, larger
// BLAS calls and no online rescaling), small enough that the S tile
// (kBq x kFwdBk floats, 64 KiB) stays in L2.
constexpr int64_t kFwdBk = 256;
// Backward query rows per chunk: a multiple of kBk. A 64-key block meets
// up to 256 query rows in one set of GEMMs (up to 256 tokens: one per key
// block), tiles of kBwdBq x kBk floats.
constexpr int64_t kBwdBq = 256;

// Shapes of one call, and the addressing of [B,T,H,D] and [B,H,T] tensors.
struct Dims {
  int64_t B, T, H, Dk, Dv;
  int64_t QkOffset(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * Dk; }
  int64_t VOffset(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * Dv; }
  int64_t RowOffset(int64_t b, int64_t h, int64_t t) const { return (b * H + h) * T + t; }
};

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// SegmentStart(pos, t): the first key query t may see (0 without
// positions; pos is the batch row's positions).
inline int64_t SegmentStart(const int32_t* pos, int64_t t) {
  return pos ? std::clamp<int64_t>(t - pos[t], 0, t) : 0;
}

// FirstVisibleKey(pos, q0, nq): the smallest SegmentStart over queries
// [q0, q0 + nq): keys before it are masked for the whole query block.
int64_t FirstVisibleKey(const int32_t* pos, int64_t q0, int64_t nq) {
  if (!pos) return 0;
  int64_t first = q0;
  for (int64_t i = 0; i < nq; ++i) first = std::min(first, SegmentStart(pos, q0 + i));
  return first;
}

// The tile products: the register-blocked AVX-512 kernels of
// internal/tile_gemm.h where the CPU has them, the BLAS GEMM otherwise.
// `limit` lets the tile kernels skip what the causal mask discards on the
// diagonal tiles (the BLAS calls compute it).
using internal::CausalLimit;
// C = alpha * A B, added to C when accumulate.
void ProductNN(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, bool accumulate, float* C, int64_t ldc,
               const CausalLimit& limit = {}) {
  if (internal::TileGemmAvailable()) {
    internal::TileGemmNN(M, N, K, alpha, A, lda, B, ldb, accumulate, C, ldc, limit);
  } else {
    Gemm(false, false, M, N, K, alpha, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc);
  }
}
// C = alpha * A^T B (+ C); A is [K, M].
void ProductTN(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, bool accumulate, float* C, int64_t ldc) {
  if (internal::TileGemmAvailable()) {
    internal::TileGemmTN(M, N, K, alpha, A, lda, B, ldb, accumulate, C, ldc);
  } else {
    Gemm(true, false, M, N, K, alpha, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc);
  }
}
// C = alpha * A B^T (overwritten); B is [N, K]. The tile kernels take B^T
// from a per-thread buffer (N x K floats transposed once per call, a small
// cost next to the M x N x K product for the M = 64-256 rows here).
void ProductNT(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc,
               const CausalLimit& limit = {}) {
  if (!internal::TileGemmAvailable()) {
    Gemm(false, true, M, N, K, alpha, A, lda, B, ldb, 0.0f, C, ldc);
    return;
  }
  thread_local std::vector<float> bt;
  const int64_t ld_bt = (N + 15) / 16 * 16;
  if (int64_t(bt.size()) < K * ld_bt) bt.resize(K * ld_bt);
  internal::TransposeTile(bt.data(), ld_bt, B, ldb, N, K);
  internal::TileGemmNN(M, N, K, alpha, A, lda, bt.data(), ld_bt, /*accumulate=*/false, C, ldc,
                       limit);
}

// DiagonalDepth: the limit of a product over the keys [k0, k0 + nk) of
// probabilities (or dS) of query rows from q0: row i's terms past key
// q0 + i are exact zeros (masked) on a diagonal tile.
CausalLimit DiagonalDepth(int64_t q0, int64_t k0, int64_t nk) {
  return k0 + nk - 1 > q0 ? CausalLimit{CausalLimit::kDepth, q0 - k0} : CausalLimit{};
}

// Scores: S[nq, nk] (ld ld_s) = scale * Q[q0.., :] K[k0.., :]^T, with the
// causal mask (key k0+j > query q0+i) and, with positions, the document
// mask (key before the query's segment start) set to -inf.
void Scores(float* S, const float* q, const float* k, int64_t q0, int64_t nq, int64_t k0,
            int64_t nk, int64_t ld_qk, int64_t Dk, float scale, const int32_t* pos,
            int64_t ld_s = kBk) {
  // Row i sees keys k0 + j <= q0 + i: on a diagonal tile the products
  // of the keys after that are not needed (the mask below overwrites them).
  const bool diagonal = k0 + nk - 1 > q0;
  ProductNT(nq, nk, Dk, scale, q, ld_qk, k, ld_qk, S, ld_s,
            diagonal ? CausalLimit{CausalLimit::kColumns, q0 - k0} : CausalLimit{});
  if (diagonal) {
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t first_masked = std::max<int64_t>(0, q0 + i + 1 - k0);
      std::fill(S + i * ld_s + std::min(first_masked, nk), S + i * ld_s + nk, kNegInf);
    }
  }
  if (pos) {
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t visible = std::min<int64_t>(nk, SegmentStart(pos, q0 + i) - k0);
      if (visible > 0) std::fill(S + i * ld_s, S + i * ld_s + visible, kNegInf);
    }
  }
}

constexpr int64_t kSumLanes = 16;  // ExpRowSum lanes

// The element-wise tile loops are compiled twice: for the x86-64-v3
// baseline (AVX2) and with AVX-512 (16 floats per vector), picked at run
// time. Both evaluate the same float operations per element and add the
// same lanes in the same order, so they give the same bits; only the vector
// width differs (as in cross_entropy.cc).
#define HS_ATTN_TILE_FUNCS(SUFFIX, ATTR)                                        \
  /* ExpRowSum: x[j] = exp(x[j] - shift) in place, and their sum in */         \
  /* kSumLanes lanes (lane l takes j = l mod kSumLanes), added in order. */    \
  ATTR float ExpRowSum##SUFFIX(float* x, int64_t n, float shift) {             \
    float lane[kSumLanes] = {};                                                \
    int64_t j = 0;                                                             \
    for (; j + kSumLanes <= n; j += kSumLanes) {                               \
      for (int64_t l = 0; l < kSumLanes; ++l) {                                \
        const float p = internal::Exp(x[j + l] - shift);                       \
        x[j + l] = p;                                                          \
        lane[l] += p;                                                          \
      }                                                                        \
    }                                                                          \
    for (; j < n; ++j) {                                                       \
      x[j] = internal::Exp(x[j] - shift);                                      \
      lane[j % kSumLanes] += x[j];                                             \
    }                                                                          \
    float s = 0.0f;                                                            \
    for (int64_t l = 0; l < kSumLanes; ++l) s += lane[l];                      \
    return s;                                                                  \
  }                                                                            \
  /* OnlineSoftmax: one S tile (nq x nk, ld ld_s) into the running row */      \
  /* max m, sum l and unnormalised output acc (nq x Dv); S becomes P. */       \
  ATTR void OnlineSoftmax##SUFFIX(float* S, int64_t ld_s, int64_t nq,         \
                                  int64_t nk, float* m, float* l, float* acc, \
                                  int64_t Dv) {                                \
    for (int64_t i = 0; i < nq; ++i) {                                         \
      float* row = S + i * ld_s;                                               \
      const float m_new = std::max(m[i], internal::RowMax##SUFFIX(row, nk));   \
      if (m_new == kNegInf) {                                                  \
        /* Nothing visible yet (a key block before the row's document): */    \
        /* contribute nothing, keep the running state. */                      \
        std::fill(row, row + nk, 0.0f);                                        \
        continue;                                                              \
      }                                                                        \
      /* Once a row has seen a key, m_new is finite; exp(-inf) = 0 on the */  \
      /* row's first visible block, where acc and l are still 0. */            \
      const float alpha = internal::Exp(m[i] - m_new);                         \
      l[i] = l[i] * alpha + ExpRowSum##SUFFIX(row, nk, m_new);                 \
      m[i] = m_new;                                                            \
      float* o = acc + i * Dv;                                                 \
      for (int64_t e = 0; e < Dv; ++e) o[e] *= alpha;                          \
    }                                                                          \
  }                                                                            \
  /* ProbsFromLse: P = exp(S - lse_row) in place (masked entries become 0). */ \
  ATTR void ProbsFromLse##SUFFIX(float* S, const float* lse_rows, int64_t nq,  \
                                 int64_t nk) {                                 \
    for (int64_t i = 0; i < nq; ++i) {                                         \
      float* row = S + i * kBk;                                                \
      const float l = lse_rows[i];                                             \
      for (int64_t j = 0; j < nk; ++j) row[j] = internal::Exp(row[j] - l);     \
    }                                                                          \
  }                                                                            \
  /* DsFromDp: dS = P * (dP - D_row), in place in dP. */                       \
  ATTR void DsFromDp##SUFFIX(float* dP, const float* P, const float* D_rows,   \
                             int64_t nq, int64_t nk) {                         \
    for (int64_t i = 0; i < nq; ++i) {                                         \
      float* d = dP + i * kBk;                                                 \
      const float* p = P + i * kBk;                                            \
      const float Di = D_rows[i];                                              \
      for (int64_t j = 0; j < nk; ++j) d[j] = p[j] * (d[j] - Di);              \
    }                                                                          \
  }

HS_ATTN_TILE_FUNCS(Avx2, )
HS_ATTN_TILE_FUNCS(Avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,prefer-vector-width=512"))))
#undef HS_ATTN_TILE_FUNCS

void OnlineSoftmax(float* S, int64_t ld_s, int64_t nq, int64_t nk, float* m, float* l,
                   float* acc, int64_t Dv) {
  if (internal::HasAvx512()) {
    OnlineSoftmaxAvx512(S, ld_s, nq, nk, m, l, acc, Dv);
  } else {
    OnlineSoftmaxAvx2(S, ld_s, nq, nk, m, l, acc, Dv);
  }
}
void ProbsFromLse(float* S, const float* lse_rows, int64_t nq, int64_t nk) {
  if (internal::HasAvx512()) {
    ProbsFromLseAvx512(S, lse_rows, nq, nk);
  } else {
    ProbsFromLseAvx2(S, lse_rows, nq, nk);
  }
}
void DsFromDp(float* dP, const float* P, const float* D_rows, int64_t nq, int64_t nk) {
  if (internal::HasAvx512()) {
    DsFromDpAvx512(dP, P, D_rows, nq, nk);
  } else {
    DsFromDpAvx2(dP, P, D_rows, nq, nk);
  }
}

}  // namespace

// AttentionForward: online-softmax forward (see the banner); writes out, lse.
void AttentionForward(float* out, float* lse, const float* q, const float* k,
                      const float* v, int64_t B, int64_t T, int64_t H,
                      int64_t Dk, int64_t Dv, float scale, const int32_t* positions) {
  HS_CHECK(B >= 0 && T >= 0 && H >= 0 && Dk > 0 && Dv > 0)
      << "B=" << B << " T=" << T << " H=" << H << " Dk=" << Dk << " Dv=" << Dv;
  const Dims dims{B, T, H, Dk, Dv};
  const int64_t n_qblocks = (T + kBq - 1) / kBq;
  const int64_t tasks = B * H * n_qblocks;
  const int64_t qk_row = H * Dk, v_row = H * Dv;  // token strides
#pragma omp parallel
  {
    std::vector<float> S(kBq * kFwdBk);
    std::vector<float> acc(kBq * Dv);  // unnormalised output rows
    std::vector<float> m(kBq), l(kBq);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t qb = task % n_qblocks;
      const int64_t h = (task / n_qblocks) % H;
      const int64_t b = task / (n_qblocks * H);
      const int64_t q0 = qb * kBq, q1 = std::min(T, q0 + kBq), nq = q1 - q0;
      std::fill(acc.begin(), acc.begin() + nq * Dv, 0.0f);
      std::fill(m.begin(), m.end(), kNegInf);
      std::fill(l.begin(), l.end(), 0.0f);
      const int32_t* pos = positions ? positions + b * T : nullptr;
      // Keys past q1-1 are masked for the whole block: stop at q1; keys
      // before every query's document likewise: start at that key block.
      const int64_t k_first = FirstVisibleKey(pos, q0, nq) / kBq * kBq;
      for (int64_t k0 = k_first; k0 < q1; k0 += kFwdBk) {
        const int64_t nk = std::min(q1, k0 + kFwdBk) - k0;
        Scores(S.data(), q + dims.QkOffset(b, q0, h), k + dims.QkOffset(b, k0, h), q0, nq, k0,
               nk, qk_row, Dk, scale, pos, kFwdBk);
        OnlineSoftmax(S.data(), kFwdBk, nq, nk, m.data(), l.data(), acc.data(), Dv);
        // O += P V_j (P is 0 past the diagonal: those terms are skipped)
        ProductNN(nq, Dv, nk, 1.0f, S.data(), kFwdBk, v + dims.VOffset(b, k0, h), v_row,
                  /*accumulate=*/true, acc.data(), Dv, DiagonalDepth(q0, k0, nk));
      }
      for (int64_t i = 0; i < nq; ++i) {
        const int64_t t = q0 + i;
        const float inv_l = 1.0f / l[i];
        const float* o = acc.data() + i * Dv;
        float* dst = out + dims.VOffset(b, t, h);
        for (int64_t e = 0; e < Dv; ++e) dst[e] = o[e] * inv_l;
        lse[dims.RowOffset(b, h, t)] = m[i] + std::log(l[i]);
      }
    }
  }
}

// AttentionBackward: D, then the dK/dV pass, then the dQ pass (banner).
void AttentionBackward(float* dq, float* dk, float* dv, const float* dout,
                       const float* q, const float* k, const float* v,
                       const float* out, const float* lse, int64_t B,
                       int64_t T, int64_t H, int64_t Dk, int64_t Dv,
                       float scale, const int32_t* positions) {
  HS_CHECK(B >= 0 && T >= 0 && H >= 0 && Dk > 0 && Dv > 0)
      << "B=" << B << " T=" << T << " H=" << H << " Dk=" << Dk << " Dv=" << Dv;
  const Dims dims{B, T, H, Dk, Dv};
  const int64_t qk_row = H * Dk, v_row = H * Dv;

  // D[b,h,t] = sum_e dout * out, rows in parallel; dq, dk, dv zeroed for
  // the GEMMs to accumulate into (one pass over each, not a fill per row).
  std::vector<float> D(B * H * T);
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < B * T; ++bt) {
    std::fill(dq + bt * qk_row, dq + (bt + 1) * qk_row, 0.0f);
    std::fill(dk + bt * qk_row, dk + (bt + 1) * qk_row, 0.0f);
    std::fill(dv + bt * v_row, dv + (bt + 1) * v_row, 0.0f);
    const int64_t b = bt / T, t = bt % T;
    for (int64_t h = 0; h < H; ++h) {
      const float* d = dout + dims.VOffset(b, t, h);
      const float* o = out + dims.VOffset(b, t, h);
      float acc = 0.0f;
      for (int64_t e = 0; e < Dv; ++e) acc += d[e] * o[e];
      D[dims.RowOffset(b, h, t)] = acc;
    }
  }

  // Query chunks: [c0, c0 + kBwdBq), aligned to kBwdBq. Key block j sees
  // the rows of a chunk from max(c0, k0) on; each (rows, key block) tile is
  // the same GEMM calls in every order below.
  const int64_t n_kblocks = (T + kBk - 1) / kBk;
  const int64_t n_chunks = (T + kBwdBq - 1) / kBwdBq;
  // Tile (b, h, chunk c0, key block k0): P and dS of its visible rows
  // [r0, r1) into the per-thread buffers, then the products asked for.
  // Returns false when no row of the tile sees a key of the block.
  struct Tile {
    int64_t b, h, r0, nq, k0, nk;
  };
  auto tile_of = [&](int64_t b, int64_t h, int64_t c0, int64_t k0, Tile* t) {
    const int32_t* pos = positions ? positions + b * T : nullptr;
    t->b = b, t->h = h, t->k0 = k0, t->nk = std::min(T, k0 + kBk) - k0;
    t->r0 = std::max(c0, k0);
    t->nq = std::min(T, c0 + kBwdBq) - t->r0;
    return t->nq > 0 && FirstVisibleKey(pos, t->r0, t->nq) < k0 + t->nk;
  };
  auto probs_and_ds = [&](const Tile& t, float* P, float* dS) {
    const int32_t* pos = positions ? positions + t.b * T : nullptr;
    Scores(P, q + dims.QkOffset(t.b, t.r0, t.h), k + dims.QkOffset(t.b, t.k0, t.h), t.r0, t.nq,
           t.k0, t.nk, qk_row, Dk, scale, pos);
    ProbsFromLse(P, lse + dims.RowOffset(t.b, t.h, t.r0), t.nq, t.nk);
    // dP = dout_i V_j^T ;  dS = P (dP - D)
    ProductNT(t.nq, t.nk, Dv, 1.0f, dout + dims.VOffset(t.b, t.r0, t.h), v_row,
              v + dims.VOffset(t.b, t.k0, t.h), v_row, dS, kBk);
    DsFromDp(dS, P, D.data() + dims.RowOffset(t.b, t.h, t.r0), t.nq, t.nk);
  };
  // dV_j += P^T dout_i ;  dK_j += scale * dS^T Q_i
  auto key_grads = [&](const Tile& t, const float* P, const float* dS) {
    ProductTN(t.nk, Dv, t.nq, 1.0f, P, kBk, dout + dims.VOffset(t.b, t.r0, t.h), v_row,
              /*accumulate=*/true, dv + dims.VOffset(t.b, t.k0, t.h), v_row);
    ProductTN(t.nk, Dk, t.nq, scale, dS, kBk, q + dims.QkOffset(t.b, t.r0, t.h), qk_row,
              /*accumulate=*/true, dk + dims.QkOffset(t.b, t.k0, t.h), qk_row);
  };
  // dQ_i += scale * dS K_j
  auto query_grads = [&](const Tile& t, const float* dS) {
    ProductNN(t.nq, Dk, t.nk, scale, dS, kBk, k + dims.QkOffset(t.b, t.k0, t.h), qk_row,
              /*accumulate=*/true, dq + dims.QkOffset(t.b, t.r0, t.h), qk_row,
              DiagonalDepth(t.r0, t.k0, t.nk));
  };

  if (B * H >= 4 * int64_t(omp_get_max_threads())) {
    // One pass: task (b, h) walks key blocks j and, for each, the query
    // chunks from j's on, and owns dQ of all its rows. S, P and dP are
    // computed once per tile instead of once per pass; every product and
    // sum is the one of the two passes below, in the same order (dQ rows
    // add their key blocks in increasing j either way), so both give the
    // same bits.
#pragma omp parallel
    {
      std::vector<float> P(kBwdBq * kBk), dS(kBwdBq * kBk);
#pragma omp for schedule(dynamic, 1)
      for (int64_t bh = 0; bh < B * H; ++bh) {
        const int64_t h = bh % H, b = bh / H;
        for (int64_t k0 = 0; k0 < T; k0 += kBk) {
          for (int64_t c0 = k0 / kBwdBq * kBwdBq; c0 < T; c0 += kBwdBq) {
            Tile t;
            if (!tile_of(b, h, c0, k0, &t)) continue;  // no query sees these keys
            probs_and_ds(t, P.data(), dS.data());
            key_grads(t, P.data(), dS.data());
            query_grads(t, dS.data());
          }
        }
      }
    }
    return;
  }
  // Fewer (b, h) pairs than the threads can share: two passes with more
  // tasks each.
  // Pass 1: dK, dV. Task (b, h, key block j) walks the query chunks from j's.
#pragma omp parallel
  {
    std::vector<float> P(kBwdBq * kBk), dS(kBwdBq * kBk);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < B * H * n_kblocks; ++task) {
      const int64_t k0 = (task % n_kblocks) * kBk;
      const int64_t h = (task / n_kblocks) % H;
      const int64_t b = task / (n_kblocks * H);
      for (int64_t c0 = k0 / kBwdBq * kBwdBq; c0 < T; c0 += kBwdBq) {
        Tile t;
        if (!tile_of(b, h, c0, k0, &t)) continue;
        probs_and_ds(t, P.data(), dS.data());
        key_grads(t, P.data(), dS.data());
      }
    }
  }
  // Pass 2: dQ. Task (b, h, query chunk c) walks the key blocks up to its end.
#pragma omp parallel
  {
    std::vector<float> P(kBwdBq * kBk), dS(kBwdBq * kBk);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < B * H * n_chunks; ++task) {
      const int64_t c0 = (task % n_chunks) * kBwdBq;
      const int64_t h = (task / n_chunks) % H;
      const int64_t b = task / (n_chunks * H);
      const int64_t c1 = std::min(T, c0 + kBwdBq);
      for (int64_t k0 = 0; k0 < c1; k0 += kBk) {
        Tile t;
        if (!tile_of(b, h, c0, k0, &t)) continue;
        probs_and_ds(t, P.data(), dS.data());
        query_grads(t, dS.data());
      }
    }
  }
}

}  // namespace hs::kernels::cpu
