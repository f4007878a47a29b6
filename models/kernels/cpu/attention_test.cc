// File: models/kernels/cpu/attention_test.cc
//
// Flash attention against a full-softmax reference in double (forward: out
// and lse; backward: dq, dk, dv from the explicit softmax Jacobian), on
// B=2, T=37 (not a multiple of the 64 block), H=3, Dk=12, Dv=8, plus T=1
// and T=150 (three query/key blocks, ragged tail); finite-difference checks
// of dq, dk, dv; and bit-identical results for different thread counts.
#include "models/kernels/cpu/attention.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/threads.h"
#include "models/kernels/cpu/internal/tile_gemm.h"
#include "models/testing/grad_check.h"

namespace hs::kernels::cpu {
namespace {

using ::hs::testing::CheckGradient;
using ::hs::testing::Dot;
using ::hs::testing::RandomProjection;
using ::hs::testing::RandomVector;

struct Shape {
  int64_t B, T, H, Dk, Dv;
};

// Reference results, all in double.
struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

// NaiveAttention: materialise the T x T causal softmax per (b, h).
//   P = softmax(scale * q k^T + mask), out = P v
//   dv = P^T dout, dP = dout v^T, dS = P o (dP - rowsum(dP o P)),
//   dq = scale * dS k, dk = scale * dS^T q
Reference NaiveAttention(const Shape& s, const std::vector<float>& q,
                         const std::vector<float>& k,
                         const std::vector<float>& v,
                         const std::vector<float>& dout, float scale) {
  const auto [B, T, H, Dk, Dv] = s;
  Reference r;
  r.out.assign(B * T * H * Dv, 0);
  r.lse.assign(B * H * T, 0);
  r.dq.assign(B * T * H * Dk, 0);
  r.dk.assign(B * T * H * Dk, 0);
  r.dv.assign(B * T * H * Dv, 0);
  auto qi = [&](int64_t b, int64_t t, int64_t h) { return ((b * T + t) * H + h) * Dk; };
  auto vi = [&](int64_t b, int64_t t, int64_t h) { return ((b * T + t) * H + h) * Dv; };
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> P(T * T, 0.0), dS(T * T, 0.0);
      for (int64_t t = 0; t < T; ++t) {
        double mx = -1e300;
        std::vector<double> sc(t + 1);
        for (int64_t u = 0; u <= t; ++u) {
          double d = 0;
          for (int64_t c = 0; c < Dk; ++c) d += double(q[qi(b, t, h) + c]) * k[qi(b, u, h) + c];
          sc[u] = scale * d;
          mx = std::max(mx, sc[u]);
        }
        double sum = 0;
        for (int64_t u = 0; u <= t; ++u) sum += std::exp(sc[u] - mx);
        r.lse[(b * H + h) * T + t] = mx + std::log(sum);
        for (int64_t u = 0; u <= t; ++u) P[t * T + u] = std::exp(sc[u] - mx) / sum;
        for (int64_t u = 0; u <= t; ++u) {
          for (int64_t e = 0; e < Dv; ++e) r.out[vi(b, t, h) + e] += P[t * T + u] * v[vi(b, u, h) + e];
        }
        // Backward of row t.
        std::vector<double> dP(t + 1);
        double rowdot = 0;
        for (int64_t u = 0; u <= t; ++u) {
          double d = 0;
          for (int64_t e = 0; e < Dv; ++e) d += double(dout[vi(b, t, h) + e]) * v[vi(b, u, h) + e];
          dP[u] = d;
          rowdot += d * P[t * T + u];
        }
        for (int64_t u = 0; u <= t; ++u) dS[t * T + u] = P[t * T + u] * (dP[u] - rowdot);
      }
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t u = 0; u <= t; ++u) {
          for (int64_t e = 0; e < Dv; ++e) r.dv[vi(b, u, h) + e] += P[t * T + u] * dout[vi(b, t, h) + e];
          for (int64_t c = 0; c < Dk; ++c) {
            r.dq[qi(b, t, h) + c] += scale * dS[t * T + u] * k[qi(b, u, h) + c];
            r.dk[qi(b, u, h) + c] += scale * dS[t * T + u] * q[qi(b, t, h) + c];
          }
        }
      }
    }
  }
  return r;
}

// ExpectClose: |got - want| <= rel * (max |want| over the tensor) + tiny.
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want,
                 double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  double scale = 0, max_err = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i) max_err = std::max(max_err, std::fabs(got[i] - want[i]));
  std::printf("  %-3s maxdiff %.3g (rel to max |ref| %.3g)\n", what, max_err,
              scale > 0 ? max_err / scale : 0.0);
  EXPECT_LE(max_err, rel * scale + 1e-7) << what << ": max abs err " << max_err
                                         << " (max |ref| " << scale << ")";
}

void CheckAgainstReference(const Shape& s, float scale, uint64_t seed) {
  const auto [B, T, H, Dk, Dv] = s;
  std::vector<float> q = RandomVector(B * T * H * Dk, seed, 1.5f);
  std::vector<float> k = RandomVector(B * T * H * Dk, seed + 1, 1.5f);
  std::vector<float> v = RandomVector(B * T * H * Dv, seed + 2);
  std::vector<float> dout = RandomVector(B * T * H * Dv, seed + 3);
  std::vector<float> out(B * T * H * Dv), lse(B * H * T);
  AttentionForward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, T,
                   H, Dk, Dv, scale);
  std::vector<float> dq(q.size(), NAN), dk(k.size(), NAN), dv(v.size(), NAN);
  AttentionBackward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(),
                    k.data(), v.data(), out.data(), lse.data(), B, T, H, Dk,
                    Dv, scale);
  Reference ref = NaiveAttention(s, q, k, v, dout, scale);
  SCOPED_TRACE(::testing::Message() << "B=" << B << " T=" << T << " H=" << H
                                    << " Dk=" << Dk << " Dv=" << Dv);
  ExpectClose(out, ref.out, 1e-5, "out");
  ExpectClose(lse, ref.lse, 1e-6, "lse");
  ExpectClose(dq, ref.dq, 1e-5, "dq");
  ExpectClose(dk, ref.dk, 1e-5, "dk");
  ExpectClose(dv, ref.dv, 1e-5, "dv");
}

TEST(AttentionTest, MatchesFullSoftmaxReference) {
  CheckAgainstReference({2, 37, 3, 12, 8}, 1.0f / std::sqrt(12.0f), 1);
}

TEST(AttentionTest, SingleToken) {
  // T = 1: out = v, lse = scale * q.k.
  CheckAgainstReference({3, 1, 2, 12, 8}, 0.3f, 11);
}

TEST(AttentionTest, SeveralRaggedBlocks) {
  // T = 150 = 2 full 64-blocks + 22; MLA-like Dk = 48, Dv = 32. Scores
  // have std ~1.5: the running max moves across key blocks (exercising the
  // online rescaling) while every key keeps visible weight, so a dropped or
  // extra key shows up. The second call is peaky (std ~8): no overflow.
  CheckAgainstReference({1, 150, 2, 48, 32}, 0.3f, 21);
  CheckAgainstReference({1, 150, 2, 48, 32}, 1.5f, 22);
}

TEST(AttentionTest, SeveralForwardKeyBlocks) {
  // The forward streams keys in blocks of 256: T = 600 gives query blocks
  // with one, two and three key blocks (the last ragged), so the online
  // rescaling between key blocks runs, with the running max moving (std
  // ~1.5) and not moving much (std ~0.3).
  CheckAgainstReference({1, 600, 2, 48, 32}, 0.3f, 24);
  CheckAgainstReference({1, 600, 2, 48, 32}, 1.5f, 25);
}

TEST(AttentionTest, OnePassAndTwoPassBackwardsMatchTheReference) {
  // The backward runs one pass per (b, h) when there are at least 4 such
  // pairs per thread, two finer passes otherwise: check both.
  for (int threads : {1, 8}) {
    SetNumThreads(threads);
    SCOPED_TRACE(::testing::Message() << threads << " threads");
    CheckAgainstReference({2, 150, 3, 48, 32}, 0.3f, 51);
  }
  SetNumThreads(0);
}

TEST(AttentionTest, BlasPathMatchesTheReference) {
  // Without AVX-512 the tile products are BLAS calls: the same checks on
  // that path (here by turning the tile kernels off).
  internal::SetTileGemmDisabledForTesting(true);
  CheckAgainstReference({1, 150, 2, 48, 32}, 0.3f, 61);
  CheckAgainstReference({2, 300, 3, 48, 32}, 1.5f, 62);
  internal::SetTileGemmDisabledForTesting(false);
}

TEST(AttentionTest, GradientsMatchFiniteDifferences) {
  const int64_t B = 2, T = 37, H = 3, Dk = 12, Dv = 8;
  const float scale = 1.0f / std::sqrt(float(Dk));
  std::vector<float> q = RandomVector(B * T * H * Dk, 31, 1.5f);
  std::vector<float> k = RandomVector(B * T * H * Dk, 32, 1.5f);
  std::vector<float> v = RandomVector(B * T * H * Dv, 33);
  std::vector<float> r = RandomProjection(B * T * H * Dv, 34);
  std::vector<float> out(B * T * H * Dv), lse(B * H * T);
  auto loss = [&] {
    AttentionForward(out.data(), lse.data(), q.data(), k.data(), v.data(), B,
                     T, H, Dk, Dv, scale);
    return Dot(out.data(), r.data(), out.size());
  };
  loss();
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
  AttentionBackward(dq.data(), dk.data(), dv.data(), r.data(), q.data(),
                    k.data(), v.data(), out.data(), lse.data(), B, T, H, Dk,
                    Dv, scale);
  hs::testing::GradCheckOptions opt;
  opt.eps = 3e-3;
  opt.max_checks = 96;
  auto rq = CheckGradient("attention.dq", loss, q.data(), dq.data(), q.size(), opt);
  EXPECT_TRUE(rq.ok) << rq.report;
  auto rk = CheckGradient("attention.dk", loss, k.data(), dk.data(), k.size(), opt);
  EXPECT_TRUE(rk.ok) << rk.report;
  auto rv = CheckGradient("attention.dv", loss, v.data(), dv.data(), v.size(), opt);
  EXPECT_TRUE(rv.ok) << rv.report;
}

// 1 thread runs the one-pass backward (4 (b, h) pairs), 3 threads the
// two-pass one: the same bits either way. T = 300: two query chunks, the
// second one met by key blocks both before it and inside it; with
// `positions`, packed documents skip some tiles (the same ones in both).
void ExpectThreadCountInvariant(const int32_t* positions) {
  const int64_t B = 2, T = 300, H = 2, Dk = 16, Dv = 8;
  std::vector<float> q = RandomVector(B * T * H * Dk, 41);
  std::vector<float> k = RandomVector(B * T * H * Dk, 42);
  std::vector<float> v = RandomVector(B * T * H * Dv, 43);
  std::vector<float> dout = RandomVector(B * T * H * Dv, 44);
  std::vector<std::vector<float>> first;
  for (int threads : {1, 3}) {
    SetNumThreads(threads);
    std::vector<float> out(B * T * H * Dv), lse(B * H * T);
    std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
    AttentionForward(out.data(), lse.data(), q.data(), k.data(), v.data(), B,
                     T, H, Dk, Dv, 0.25f, positions);
    AttentionBackward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(),
                      k.data(), v.data(), out.data(), lse.data(), B, T, H, Dk,
                      Dv, 0.25f, positions);
    std::vector<std::vector<float>> all = {out, lse, dq, dk, dv};
    if (first.empty()) {
      first = all;
    } else {
      for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], first[i]) << i;
    }
  }
  SetNumThreads(0);
}

TEST(AttentionTest, ThreadCountInvariant) { ExpectThreadCountInvariant(nullptr); }

TEST(AttentionTest, ThreadCountInvariantWithDocuments) {
  // Row 0: documents of 70, 200 and 30 tokens; row 1: 290 and 10.
  std::vector<int32_t> pos;
  for (int64_t len : {70, 200, 30, 290, 10}) {
    for (int64_t i = 0; i < len; ++i) pos.push_back(int32_t(i));
  }
  ExpectThreadCountInvariant(pos.data());
}

}  // namespace
}  // namespace hs::kernels::cpu
