// File: models/kernels/cpu/attention.cc
//
// Causal flash attention on the CPU (FlashAttention-2, Dao 2023, §3.1),
// with every block product done by the BLAS GEMM on 64 x 64 tiles.
//
// Forward, one task per (b, h, query block Qi of kBq rows), in parallel:
//   for each key block Kj that some query of Qi can see:
//     S  = scale * Qi Kj^T               [nq, nk]   (GEMM, causal mask after)
//     m' = max(m, rowmax S);  P = exp(S - m');  a = exp(m - m')
//     l  = a*l + rowsum P;    O = a*O + P Vj          (GEMM)
//   out = O / l;  lse = m + log l
// Only one S tile (kBq x kBk floats) exists per thread.
//
// Backward, with P recomputed from lse (no stored probabilities):
//   D_i  = rowsum(dout_i * out_i)
//   dV_j = sum_i P_ij^T dout_i          dP_ij = dout_i V_j^T
//   dS   = P (dP - D)                   dK_j  = scale * sum_i dS_ij^T Q_i
//   dQ_i = scale * sum_j dS_ij K_j
// To stay free of atomics (and deterministic for every thread count), a
// task owns the gradients it writes. With enough (b, h) pairs for the
// threads, one task per (b, h) walks key blocks j and query blocks i >= j
// once, owning dK/dV of block j and dQ of all its rows. With fewer, two
// passes share the work more finely: one task per (b, h, key block) owns
// dK/dV and walks the query blocks at or after it; then one task per
// (b, h, query block) owns dQ and walks the key blocks, recomputing S, P
// and dP (about 1.4x the FLOPs). Both orders give the same bits.
// With positions (packed documents) the scores of keys before a query's
// document start are -inf as well, and key blocks that no query of a block
// can see are skipped in all three loops.
// Inside a task the GEMMs run single-threaded (OpenMP does not nest), so
// parallelism is over the B*H*blocks tasks.
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
#include "models/kernels/cpu/internal/exp.h"

namespace hs::kernels::cpu {
namespace {

constexpr int64_t kBq = 64;  // query rows per block
constexpr int64_t kBk = 64;  // keys per block (== kBq: diagonal blocks align)

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

// Scores: S[nq, nk] (ld kBk) = scale * Q[q0.., :] K[k0.., :]^T, with the
// causal mask (key k0+j > query q0+i) and, with positions, the document
// mask (key before the query's segment start) set to -inf.
void Scores(float* S, const float* q, const float* k, int64_t q0, int64_t nq, int64_t k0,
            int64_t nk, int64_t ld_qk, int64_t Dk, float scale, const int32_t* pos) {
  Gemm(false, true, nq, nk, Dk, scale, q, ld_qk, k, ld_qk, 0.0f, S, kBk);
  if (k0 + nk - 1 > q0) {
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t first_masked = std::max<int64_t>(0, q0 + i + 1 - k0);
      for (int64_t j = first_masked; j < nk; ++j) S[i * kBk + j] = kNegInf;
    }
  }
  if (pos) {
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t visible = std::min<int64_t>(nk, SegmentStart(pos, q0 + i) - k0);
      for (int64_t j = 0; j < visible; ++j) S[i * kBk + j] = kNegInf;
    }
  }
}

// RowMax: max of x[0..n) (n >= 1) in 8 lanes, so it vectorises (a max
// does not round: any order gives the same value).
inline float RowMax(const float* x, int64_t n) {
  float lane[8];
  for (int64_t l = 0; l < 8; ++l) lane[l] = x[0];
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int64_t l = 0; l < 8; ++l) lane[l] = lane[l] > x[j + l] ? lane[l] : x[j + l];
  }
  for (; j < n; ++j) lane[0] = lane[0] > x[j] ? lane[0] : x[j];
  float m = lane[0];
  for (int64_t l = 1; l < 8; ++l) m = m > lane[l] ? m : lane[l];
  return m;
}

// RowSum: sum of x[0..n) in 8 lanes (lane l takes j = l mod 8), lanes
// added in order: a fixed order that vectorises.
inline float RowSum(const float* x, int64_t n) {
  float lane[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int64_t l = 0; l < 8; ++l) lane[l] += x[j + l];
  }
  for (; j < n; ++j) lane[j % 8] += x[j];
  float s = 0.0f;
  for (int64_t l = 0; l < 8; ++l) s += lane[l];
  return s;
}

// Probabilities: P = exp(S - lse_row) in place (masked entries become 0).
void ProbsFromLse(float* S, const float* lse_rows, int64_t nq, int64_t nk) {
  for (int64_t i = 0; i < nq; ++i) {
    float* row = S + i * kBk;
    const float l = lse_rows[i];
    for (int64_t j = 0; j < nk; ++j) row[j] = internal::Exp(row[j] - l);
  }
}

// DsFromDp: dS = P * (dP - D_row), in place in dP.
void DsFromDp(float* dP, const float* P, const float* D_rows, int64_t nq, int64_t nk) {
  for (int64_t i = 0; i < nq; ++i) {
    float* d = dP + i * kBk;
    const float* p = P + i * kBk;
    const float Di = D_rows[i];
    for (int64_t j = 0; j < nk; ++j) d[j] = p[j] * (d[j] - Di);
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
    std::vector<float> S(kBq * kBk);
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
      const int64_t k_first = FirstVisibleKey(pos, q0, nq) / kBk * kBk;
      for (int64_t k0 = k_first; k0 < q1; k0 += kBk) {
        const int64_t nk = std::min(q1, k0 + kBk) - k0;
        Scores(S.data(), q + dims.QkOffset(b, q0, h), k + dims.QkOffset(b, k0, h), q0, nq, k0,
               nk, qk_row, Dk, scale, pos);
        for (int64_t i = 0; i < nq; ++i) {
          float* row = S.data() + i * kBk;
          const float m_new = std::max(m[i], RowMax(row, nk));
          if (m_new == kNegInf) {
            // Nothing visible yet (a key block before the row's document):
            // contribute nothing, keep the running state.
            std::fill(row, row + nk, 0.0f);
            continue;
          }
          // Once a row has seen a key, m_new is finite; exp(-inf) = 0 on the
          // row's first visible block.
          const float alpha = internal::Exp(m[i] - m_new);
          for (int64_t j = 0; j < nk; ++j) row[j] = internal::Exp(row[j] - m_new);
          const float psum = RowSum(row, nk);
          l[i] = l[i] * alpha + psum;
          m[i] = m_new;
          float* o = acc.data() + i * Dv;
          for (int64_t e = 0; e < Dv; ++e) o[e] *= alpha;
        }
        // O += P V_j
        Gemm(false, false, nq, Dv, nk, 1.0f, S.data(), kBk, v + dims.VOffset(b, k0, h), v_row,
             1.0f, acc.data(), Dv);
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

  // D[b,h,t] = sum_e dout * out, rows in parallel.
  std::vector<float> D(B * H * T);
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < B * T; ++bt) {
    const int64_t b = bt / T, t = bt % T;
    for (int64_t h = 0; h < H; ++h) {
      const float* d = dout + dims.VOffset(b, t, h);
      const float* o = out + dims.VOffset(b, t, h);
      float acc = 0.0f;
      for (int64_t e = 0; e < Dv; ++e) acc += d[e] * o[e];
      D[dims.RowOffset(b, h, t)] = acc;
    }
  }

  const int64_t n_blocks = (T + kBq - 1) / kBq;
  if (B * H >= 4 * int64_t(omp_get_max_threads())) {
    // One pass: task (b, h) walks key blocks j and, for each, query blocks
    // i >= j, and owns dQ of all its rows. S, P and dP are computed once per
    // tile instead of once per pass; every product and sum is the one of
    // the two passes below, in the same order (dQ_i adds its key blocks
    // in increasing j either way), so both give the same bits.
#pragma omp parallel
    {
      std::vector<float> P(kBq * kBk), dS(kBq * kBk);
      std::vector<float> dk_acc(kBk * Dk), dv_acc(kBk * Dv), dq_acc(T * Dk);
#pragma omp for schedule(dynamic, 1)
      for (int64_t bh = 0; bh < B * H; ++bh) {
        const int64_t h = bh % H, b = bh / H;
        const int32_t* pos = positions ? positions + b * T : nullptr;
        std::fill(dq_acc.begin(), dq_acc.end(), 0.0f);
        for (int64_t k0 = 0; k0 < T; k0 += kBk) {
          const int64_t nk = std::min(T, k0 + kBk) - k0;
          std::fill(dk_acc.begin(), dk_acc.end(), 0.0f);
          std::fill(dv_acc.begin(), dv_acc.end(), 0.0f);
          for (int64_t q0 = k0; q0 < T; q0 += kBq) {
            const int64_t nq = std::min(T, q0 + kBq) - q0;
            if (FirstVisibleKey(pos, q0, nq) >= k0 + nk) continue;  // no query sees these keys
            Scores(P.data(), q + dims.QkOffset(b, q0, h), k + dims.QkOffset(b, k0, h), q0, nq, k0,
                   nk, qk_row, Dk, scale, pos);
            ProbsFromLse(P.data(), lse + dims.RowOffset(b, h, q0), nq, nk);
            Gemm(true, false, nk, Dv, nq, 1.0f, P.data(), kBk, dout + dims.VOffset(b, q0, h),
                 v_row, 1.0f, dv_acc.data(), Dv);
            Gemm(false, true, nq, nk, Dv, 1.0f, dout + dims.VOffset(b, q0, h), v_row,
                 v + dims.VOffset(b, k0, h), v_row, 0.0f, dS.data(), kBk);
            DsFromDp(dS.data(), P.data(), D.data() + dims.RowOffset(b, h, q0), nq, nk);
            Gemm(true, false, nk, Dk, nq, scale, dS.data(), kBk, q + dims.QkOffset(b, q0, h),
                 qk_row, 1.0f, dk_acc.data(), Dk);
            Gemm(false, false, nq, Dk, nk, scale, dS.data(), kBk, k + dims.QkOffset(b, k0, h),
                 qk_row, 1.0f, dq_acc.data() + q0 * Dk, Dk);
          }
          for (int64_t j = 0; j < nk; ++j) {
            std::copy(dk_acc.data() + j * Dk, dk_acc.data() + (j + 1) * Dk,
                      dk + dims.QkOffset(b, k0 + j, h));
            std::copy(dv_acc.data() + j * Dv, dv_acc.data() + (j + 1) * Dv,
                      dv + dims.VOffset(b, k0 + j, h));
          }
        }
        for (int64_t t = 0; t < T; ++t) {
          std::copy(dq_acc.data() + t * Dk, dq_acc.data() + (t + 1) * Dk,
                    dq + dims.QkOffset(b, t, h));
        }
      }
    }
    return;
  }
  // Fewer (b, h) pairs than the threads can share: two passes with more
  // tasks each.
  const int64_t tasks = B * H * n_blocks;
  // Pass 1: dK, dV. Task (b, h, key block j) walks query blocks i >= j.
#pragma omp parallel
  {
    std::vector<float> P(kBq * kBk), dS(kBq * kBk);
    std::vector<float> dk_acc(kBk * Dk), dv_acc(kBk * Dv);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t kb = task % n_blocks;
      const int64_t h = (task / n_blocks) % H;
      const int64_t b = task / (n_blocks * H);
      const int64_t k0 = kb * kBk, nk = std::min(T, k0 + kBk) - k0;
      std::fill(dk_acc.begin(), dk_acc.end(), 0.0f);
      std::fill(dv_acc.begin(), dv_acc.end(), 0.0f);
      const int32_t* pos = positions ? positions + b * T : nullptr;
      for (int64_t q0 = k0; q0 < T; q0 += kBq) {
        const int64_t nq = std::min(T, q0 + kBq) - q0;
        if (FirstVisibleKey(pos, q0, nq) >= k0 + nk) continue;  // no query sees these keys
        Scores(P.data(), q + dims.QkOffset(b, q0, h), k + dims.QkOffset(b, k0, h), q0, nq, k0, nk,
               qk_row, Dk, scale, pos);
        ProbsFromLse(P.data(), lse + dims.RowOffset(b, h, q0), nq, nk);
        // dV_j += P^T dout_i
        Gemm(true, false, nk, Dv, nq, 1.0f, P.data(), kBk, dout + dims.VOffset(b, q0, h), v_row,
             1.0f, dv_acc.data(), Dv);
        // dP = dout_i V_j^T ;  dS = P (dP - D)
        Gemm(false, true, nq, nk, Dv, 1.0f, dout + dims.VOffset(b, q0, h), v_row,
             v + dims.VOffset(b, k0, h), v_row, 0.0f, dS.data(), kBk);
        DsFromDp(dS.data(), P.data(), D.data() + dims.RowOffset(b, h, q0), nq, nk);
        // dK_j += scale * dS^T Q_i
        Gemm(true, false, nk, Dk, nq, scale, dS.data(), kBk, q + dims.QkOffset(b, q0, h), qk_row,
             1.0f, dk_acc.data(), Dk);
      }
      for (int64_t j = 0; j < nk; ++j) {
        std::copy(dk_acc.data() + j * Dk, dk_acc.data() + (j + 1) * Dk,
                  dk + dims.QkOffset(b, k0 + j, h));
        std::copy(dv_acc.data() + j * Dv, dv_acc.data() + (j + 1) * Dv,
                  dv + dims.VOffset(b, k0 + j, h));
      }
    }
  }

  // Pass 2: dQ. Task (b, h, query block i) walks key blocks j <= i.
#pragma omp parallel
  {
    std::vector<float> P(kBq * kBk), dS(kBq * kBk);
    std::vector<float> dq_acc(kBq * Dk);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t qb = task % n_blocks;
      const int64_t h = (task / n_blocks) % H;
      const int64_t b = task / (n_blocks * H);
      const int64_t q0 = qb * kBq, q1 = std::min(T, q0 + kBq), nq = q1 - q0;
      std::fill(dq_acc.begin(), dq_acc.end(), 0.0f);
      const int32_t* pos = positions ? positions + b * T : nullptr;
      for (int64_t k0 = FirstVisibleKey(pos, q0, nq) / kBk * kBk; k0 < q1; k0 += kBk) {
        const int64_t nk = std::min(q1, k0 + kBk) - k0;
        Scores(P.data(), q + dims.QkOffset(b, q0, h), k + dims.QkOffset(b, k0, h), q0, nq, k0, nk,
               qk_row, Dk, scale, pos);
        ProbsFromLse(P.data(), lse + dims.RowOffset(b, h, q0), nq, nk);
        Gemm(false, true, nq, nk, Dv, 1.0f, dout + dims.VOffset(b, q0, h), v_row,
             v + dims.VOffset(b, k0, h), v_row, 0.0f, dS.data(), kBk);
        DsFromDp(dS.data(), P.data(), D.data() + dims.RowOffset(b, h, q0), nq, nk);
        // dQ_i += scale * dS K_j
        Gemm(false, false, nq, Dk, nk, scale, dS.data(), kBk, k + dims.QkOffset(b, k0, h), qk_row,
             1.0f, dq_acc.data(), Dk);
      }
      for (int64_t i = 0; i < nq; ++i) {
        std::copy(dq_acc.data() + i * Dk, dq_acc.data() + (i + 1) * Dk,
                  dq + dims.QkOffset(b, q0 + i, h));
      }
    }
  }
}

}  // namespace hs::kernels::cpu
