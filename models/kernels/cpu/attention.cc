// File: models/kernels/cpu/attention.cc
//
// Causal flash attention on the CPU (FlashAttention-2, Dao 2023, §3.1).
//
// Forward, one task per (b, h, query block of kBq rows), tasks in parallel:
//   for each key block of kBk keys that some query of the block can see:
//     Kt = that key block transposed [Dk, kBk] (so q.k vectorises over keys)
//     per query row i:  s_j = scale * q_i.k_j  (j <= t_i, the causal mask)
//                       m' = max(m, max_j s_j);  a = exp(m - m')
//                       p_j = exp(s_j - m');  l = a*l + sum_j p_j
//                       o_i = a*o_i + sum_j p_j v_j;  m = m'
//   out_i = o_i / l;  lse_i = m + log(l)
// Only one row of the block's scores exists at a time (<= kBk floats per
// thread); the output block accumulator is kBq x Dv.
//
// Backward, with P_ij = exp(scale*q_i.k_j - lse_i) recomputed from lse:
//   D_i   = sum_e dout_ie * out_ie                  (rowsum(dO o O))
//   dV_j  = sum_i P_ij dout_i
//   dP_ij = dout_i . v_j
//   dS_ij = P_ij (dP_ij - D_i)
//   dK_j  = scale * sum_i dS_ij q_i
//   dQ_i  = scale * sum_j dS_ij k_j
// To stay free of atomics (and deterministic for every thread count), it
// runs two passes: one task per (b, h, key block) owns dK/dV of its keys
// and walks the queries i >= its first key; then one task per (b, h, query
// block) owns dQ of its rows and walks the keys. Scores are recomputed in
// both passes (about 1.5x the FLOPs of a fused pass, no shared writes).
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

#include "haiscale/logging.h"
#include "models/kernels/cpu/internal/exp.h"

namespace hs::kernels::cpu {
namespace {

constexpr int64_t kBq = 64;  // query rows per block
constexpr int64_t kBk = 64;  // keys per block

// Shapes of one call, and the addressing of [B,T,H,D] and [B,H,T] tensors.
struct Dims {
  int64_t B, T, H, Dk, Dv;
  int64_t QkOffset(int64_t b, int64_t t, int64_t h) const {
    return ((b * T + t) * H + h) * Dk;
  }
  int64_t VOffset(int64_t b, int64_t t, int64_t h) const {
    return ((b * T + t) * H + h) * Dv;
  }
  int64_t RowOffset(int64_t b, int64_t h, int64_t t) const {
    return (b * H + h) * T + t;
  }
};

// LoadTransposed: dst[d * kBk + j] = src row (k0 + j) element d, for j < nk.
// `src` points at row k0 of a [T, H, D]-strided tensor (row stride H*D).
void LoadTransposed(float* dst, const float* src, int64_t row_stride,
                    int64_t nk, int64_t D) {
  for (int64_t j = 0; j < nk; ++j) {
    const float* r = src + j * row_stride;
    for (int64_t d = 0; d < D; ++d) dst[d * kBk + j] = r[d];
  }
}

// RowDots: s[j] = alpha * sum_d x[d] * Mt[d * kBk + j] for j < nk.
inline void RowDots(float* s, const float* x, const float* Mt, int64_t nk,
                    int64_t D, float alpha) {
  std::fill(s, s + nk, 0.0f);
  for (int64_t d = 0; d < D; ++d) {
    const float xd = x[d];
    const float* m = Mt + d * kBk;
    for (int64_t j = 0; j < nk; ++j) s[j] += xd * m[j];
  }
  for (int64_t j = 0; j < nk; ++j) s[j] *= alpha;
}

// AddScaled: y[e] += a * x[e] for e < n.
inline void AddScaled(float* y, float a, const float* x, int64_t n) {
  for (int64_t e = 0; e < n; ++e) y[e] += a * x[e];
}

}  // namespace

// AttentionForward: online-softmax forward (see the banner); writes out, lse.
void AttentionForward(float* out, float* lse, const float* q, const float* k,
                      const float* v, int64_t B, int64_t T, int64_t H,
                      int64_t Dk, int64_t Dv, float scale) {
  HS_CHECK(B >= 0 && T >= 0 && H >= 0 && Dk > 0 && Dv > 0)
      << "B=" << B << " T=" << T << " H=" << H << " Dk=" << Dk << " Dv=" << Dv;
  const Dims dims{B, T, H, Dk, Dv};
  const int64_t n_qblocks = (T + kBq - 1) / kBq;
  const int64_t tasks = B * H * n_qblocks;
  const int64_t qk_row = H * Dk;  // stride between tokens in q, k
#pragma omp parallel
  {
    std::vector<float> kt(Dk * kBk);   // key block, transposed [Dk, kBk]
    std::vector<float> s(kBk);         // one row of scores
    std::vector<float> acc(kBq * Dv);  // unnormalised output rows
    std::vector<float> m(kBq), l(kBq);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t qb = task % n_qblocks;
      const int64_t h = (task / n_qblocks) % H;
      const int64_t b = task / (n_qblocks * H);
      const int64_t q0 = qb * kBq, q1 = std::min(T, q0 + kBq), nq = q1 - q0;
      std::fill(acc.begin(), acc.begin() + nq * Dv, 0.0f);
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      std::fill(l.begin(), l.end(), 0.0f);
      // Keys past q1-1 are masked for the whole block: stop at q1.
      for (int64_t k0 = 0; k0 < q1; k0 += kBk) {
        const int64_t k1 = std::min(q1, k0 + kBk);
        LoadTransposed(kt.data(), k + dims.QkOffset(b, k0, h), qk_row, k1 - k0,
                       Dk);
        for (int64_t i = 0; i < nq; ++i) {
          const int64_t t = q0 + i;
          const int64_t nk = std::min(k1, t + 1) - k0;  // causal: keys <= t
          if (nk <= 0) continue;
          RowDots(s.data(), q + dims.QkOffset(b, t, h), kt.data(), nk, Dk,
                  scale);
          float m_new = m[i];
          for (int64_t j = 0; j < nk; ++j) m_new = std::max(m_new, s[j]);
          // exp(-inf) = 0 on a row's first block.
          const float alpha = internal::Exp(m[i] - m_new);
          float* o = acc.data() + i * Dv;
          for (int64_t e = 0; e < Dv; ++e) o[e] *= alpha;
          for (int64_t j = 0; j < nk; ++j) s[j] = internal::Exp(s[j] - m_new);
          float psum = 0.0f;
          for (int64_t j = 0; j < nk; ++j) {
            psum += s[j];
            AddScaled(o, s[j], v + dims.VOffset(b, k0 + j, h), Dv);
          }
          l[i] = l[i] * alpha + psum;
          m[i] = m_new;
        }
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
                       float scale) {
  HS_CHECK(B >= 0 && T >= 0 && H >= 0 && Dk > 0 && Dv > 0)
      << "B=" << B << " T=" << T << " H=" << H << " Dk=" << Dk << " Dv=" << Dv;
  const Dims dims{B, T, H, Dk, Dv};
  const int64_t qk_row = H * Dk;
  const int64_t v_row = H * Dv;

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

  // Pass 1: dK, dV. Task (b, h, key block [k0, k1)) walks queries t >= k0.
  const int64_t n_kblocks = (T + kBk - 1) / kBk;
  const int64_t kv_tasks = B * H * n_kblocks;
#pragma omp parallel
  {
    std::vector<float> kt(Dk * kBk), vt(Dv * kBk);
    std::vector<float> p(kBk), ds(kBk);
    std::vector<float> dk_acc(kBk * Dk), dv_acc(kBk * Dv);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < kv_tasks; ++task) {
      const int64_t kb = task % n_kblocks;
      const int64_t h = (task / n_kblocks) % H;
      const int64_t b = task / (n_kblocks * H);
      const int64_t k0 = kb * kBk, k1 = std::min(T, k0 + kBk), nkb = k1 - k0;
      LoadTransposed(kt.data(), k + dims.QkOffset(b, k0, h), qk_row, nkb, Dk);
      LoadTransposed(vt.data(), v + dims.VOffset(b, k0, h), v_row, nkb, Dv);
      std::fill(dk_acc.begin(), dk_acc.end(), 0.0f);
      std::fill(dv_acc.begin(), dv_acc.end(), 0.0f);
      for (int64_t t = k0; t < T; ++t) {
        const int64_t nk = std::min(k1, t + 1) - k0;  // causal: keys <= t
        const float* qt = q + dims.QkOffset(b, t, h);
        const float* dot = dout + dims.VOffset(b, t, h);
        const float lse_t = lse[dims.RowOffset(b, h, t)];
        const float d_t = D[dims.RowOffset(b, h, t)];
        // P_tj = exp(scale * q_t.k_j - lse_t)
        RowDots(p.data(), qt, kt.data(), nk, Dk, scale);
        for (int64_t j = 0; j < nk; ++j) p[j] = internal::Exp(p[j] - lse_t);
        // dP_tj = dout_t . v_j;  dS_tj = P_tj (dP_tj - D_t)
        RowDots(ds.data(), dot, vt.data(), nk, Dv, 1.0f);
        for (int64_t j = 0; j < nk; ++j) ds[j] = p[j] * (ds[j] - d_t);
        for (int64_t j = 0; j < nk; ++j) {
          AddScaled(dv_acc.data() + j * Dv, p[j], dot, Dv);        // dV_j
          AddScaled(dk_acc.data() + j * Dk, scale * ds[j], qt, Dk);  // dK_j
        }
      }
      for (int64_t j = 0; j < nkb; ++j) {
        std::copy(dk_acc.data() + j * Dk, dk_acc.data() + (j + 1) * Dk,
                  dk + dims.QkOffset(b, k0 + j, h));
        std::copy(dv_acc.data() + j * Dv, dv_acc.data() + (j + 1) * Dv,
                  dv + dims.VOffset(b, k0 + j, h));
      }
    }
  }

  // Pass 2: dQ. Task (b, h, query block [q0, q1)) walks keys <= q1-1.
  const int64_t n_qblocks = (T + kBq - 1) / kBq;
  const int64_t q_tasks = B * H * n_qblocks;
#pragma omp parallel
  {
    std::vector<float> kt(Dk * kBk), vt(Dv * kBk);
    std::vector<float> p(kBk), ds(kBk);
    std::vector<float> dq_acc(kBq * Dk);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < q_tasks; ++task) {
      const int64_t qb = task % n_qblocks;
      const int64_t h = (task / n_qblocks) % H;
      const int64_t b = task / (n_qblocks * H);
      const int64_t q0 = qb * kBq, q1 = std::min(T, q0 + kBq), nq = q1 - q0;
      std::fill(dq_acc.begin(), dq_acc.end(), 0.0f);
      for (int64_t k0 = 0; k0 < q1; k0 += kBk) {
        const int64_t k1 = std::min(q1, k0 + kBk);
        LoadTransposed(kt.data(), k + dims.QkOffset(b, k0, h), qk_row,
                       k1 - k0, Dk);
        LoadTransposed(vt.data(), v + dims.VOffset(b, k0, h), v_row, k1 - k0,
                       Dv);
        for (int64_t i = 0; i < nq; ++i) {
          const int64_t t = q0 + i;
          const int64_t nk = std::min(k1, t + 1) - k0;
          if (nk <= 0) continue;
          const float lse_t = lse[dims.RowOffset(b, h, t)];
          const float d_t = D[dims.RowOffset(b, h, t)];
          RowDots(p.data(), q + dims.QkOffset(b, t, h), kt.data(), nk, Dk,
                  scale);
          for (int64_t j = 0; j < nk; ++j) p[j] = internal::Exp(p[j] - lse_t);
          RowDots(ds.data(), dout + dims.VOffset(b, t, h), vt.data(), nk, Dv,
                  1.0f);
          float* dqi = dq_acc.data() + i * Dk;
          for (int64_t j = 0; j < nk; ++j) {
            const float dsj = p[j] * (ds[j] - d_t);
            AddScaled(dqi, scale * dsj, k + dims.QkOffset(b, k0 + j, h), Dk);
          }
        }
      }
      for (int64_t i = 0; i < nq; ++i) {
        std::copy(dq_acc.data() + i * Dk, dq_acc.data() + (i + 1) * Dk,
                  dq + dims.QkOffset(b, q0 + i, h));
      }
    }
  }
}

}  // namespace hs::kernels::cpu
