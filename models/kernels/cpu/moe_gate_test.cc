// File: models/kernels/cpu/moe_gate_test.cc
//
// Router softmax (reference + finite differences) and top-k selection:
// greedy and group-limited greedy against a brute-force transcription of
// HF MoEGate (group score = max, keep topk_group groups, mask the rest,
// top-k), ties to the lower index, and hand-built cases where the greedy
// and group-limited choices differ.
#include "models/kernels/cpu/moe_gate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "models/testing/grad_check.h"

namespace hs::kernels::cpu {
namespace {

using ::hs::testing::CheckGradient;
using ::hs::testing::Dot;
using ::hs::testing::RandomProjection;
using ::hs::testing::RandomVector;

// BruteTopK: full stable sort by descending score (stable => lower index
// first among ties), masked experts pushed to -inf.
std::vector<int32_t> BruteTopK(const float* s, int64_t E, int64_t K,
                               bool group_limited, int64_t n_group,
                               int64_t topk_group) {
  std::vector<float> masked(s, s + E);
  if (group_limited) {
    const int64_t gs = E / n_group;
    std::vector<std::pair<float, int64_t>> g;
    for (int64_t i = 0; i < n_group; ++i) {
      g.push_back({*std::max_element(s + i * gs, s + (i + 1) * gs), i});
    }
    std::stable_sort(g.begin(), g.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<bool> keep(n_group, false);
    for (int64_t i = 0; i < topk_group; ++i) keep[g[i].second] = true;
    for (int64_t e = 0; e < E; ++e) {
      if (!keep[e / gs]) masked[e] = -INFINITY;
    }
  }
  std::vector<int32_t> order(E);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return masked[a] > masked[b]; });
  order.resize(K);
  return order;
}

std::vector<int32_t> Select(const std::vector<float>& s, int64_t E, int64_t K,
                            bool gl, int64_t n_group, int64_t topk_group,
                            std::vector<float>* w = nullptr) {
  const int64_t N = int64_t(s.size()) / E;
  std::vector<int32_t> idx(N * K);
  std::vector<float> weight(N * K);
  TopKSelect(idx.data(), weight.data(), s.data(), N, E, K, gl, n_group,
             topk_group);
  if (w) *w = weight;
  return idx;
}

TEST(SoftmaxTest, ForwardMatchesReference) {
  const int64_t N = 4, E = 64;
  std::vector<float> x = RandomVector(N * E, 1, 5.0f);
  x[3] = 80.0f;  // large logit: max-shift keeps it finite
  std::vector<float> p(N * E);
  SoftmaxForward(p.data(), x.data(), N, E);
  for (int64_t n = 0; n < N; ++n) {
    double mx = -1e30, s = 0;
    for (int64_t e = 0; e < E; ++e) mx = std::max<double>(mx, x[n * E + e]);
    for (int64_t e = 0; e < E; ++e) s += std::exp(x[n * E + e] - mx);
    for (int64_t e = 0; e < E; ++e) {
      const double want = std::exp(x[n * E + e] - mx) / s;
      ASSERT_NEAR(p[n * E + e], want, 1e-6 * want + 1e-9);
    }
  }
}

TEST(SoftmaxTest, BackwardMatchesFiniteDifferences) {
  const int64_t N = 5, E = 9;
  std::vector<float> x = RandomVector(N * E, 2, 2.0f);
  std::vector<float> r = RandomProjection(N * E, 3);
  std::vector<float> p(N * E);
  auto loss = [&] {
    SoftmaxForward(p.data(), x.data(), N, E);
    return Dot(p.data(), r.data(), N * E);
  };
  loss();
  std::vector<float> dx(N * E, 3.0f);  // overwritten (=)
  SoftmaxBackward(dx.data(), r.data(), p.data(), N, E);
  auto res = CheckGradient("softmax.dlogits", loss, x.data(), dx.data(), N * E);
  EXPECT_TRUE(res.ok) << res.report;
}

TEST(TopKTest, GreedyDescendingWithTiesToLowerIndex) {
  const int64_t E = 8, K = 4;
  std::vector<float> s = {0.1f, 0.3f, 0.05f, 0.3f, 0.3f, 0.0f, 0.2f, 0.05f};
  std::vector<float> w;
  EXPECT_EQ(Select(s, E, K, false, 1, 1, &w), (std::vector<int32_t>{1, 3, 4, 6}));
  EXPECT_EQ(w, (std::vector<float>{0.3f, 0.3f, 0.3f, 0.2f}));
  // K == E: a full ordering, ties in index order.
  EXPECT_EQ(Select(s, E, E, false, 1, 1),
            (std::vector<int32_t>{1, 3, 4, 6, 0, 2, 7, 5}));
}

TEST(TopKTest, GroupLimitedDiffersFromGreedy) {
  // 4 groups of 2. Greedy K=2 takes experts 0 (0.30) and 2 (0.29), from
  // groups 0 and 1. With topk_group = 1 only group 0 (best 0.30) is
  // eligible, so the choice is experts 0 and 1.
  const int64_t E = 8;
  std::vector<float> s = {0.30f, 0.01f, 0.29f, 0.28f, 0.05f, 0.02f, 0.03f, 0.02f};
  EXPECT_EQ(Select(s, E, 2, false, 4, 1), (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(Select(s, E, 2, true, 4, 1), (std::vector<int32_t>{0, 1}));
  // topk_group = 2 keeps groups 0 and 1: greedy over {0,1,2,3}, K=3.
  EXPECT_EQ(Select(s, E, 3, false, 4, 2), (std::vector<int32_t>{0, 2, 3}));
  EXPECT_EQ(Select(s, E, 3, true, 4, 2), (std::vector<int32_t>{0, 2, 3}));
  // Group scores: g0 0.30, g1 0.29, g2 0.05, g3 0.03. Greedy K=4 picks
  // expert 4 (0.05, group 2); with 2 groups only, expert 1 (0.01) instead.
  EXPECT_EQ(Select(s, E, 4, false, 4, 2), (std::vector<int32_t>{0, 2, 3, 4}));
  EXPECT_EQ(Select(s, E, 4, true, 4, 2), (std::vector<int32_t>{0, 2, 3, 1}));
}

TEST(TopKTest, GroupTiesGoToLowerGroup) {
  // Group scores 0.1, 0.4, 0.4: groups 1 and 2 tie, topk_group = 1 keeps
  // group 1 (the lower index), so the choice is experts 3 then 2.
  const int64_t E = 6;
  std::vector<float> s = {0.1f, 0.05f, 0.2f, 0.4f, 0.4f, 0.3f};
  EXPECT_EQ(Select(s, E, 2, true, 3, 1), (std::vector<int32_t>{3, 2}));
}

TEST(TopKTest, RandomRowsMatchBruteForce) {
  // DeepSeek-V2-like: 64 experts (scaled-down 160), 8 groups, 3 kept, K=6;
  // scores quantised to force ties.
  const int64_t N = 300, E = 64, K = 6, G = 8, TG = 3;
  std::vector<float> s = RandomVector(N * E, 5);
  for (float& x : s) x = std::round(std::fabs(x) * 20.0f) / 20.0f;
  for (bool gl : {false, true}) {
    std::vector<float> w;
    std::vector<int32_t> idx = Select(s, E, K, gl, G, TG, &w);
    int differs = 0;
    for (int64_t n = 0; n < N; ++n) {
      std::vector<int32_t> want = BruteTopK(s.data() + n * E, E, K, gl, G, TG);
      for (int64_t j = 0; j < K; ++j) {
        ASSERT_EQ(idx[n * K + j], want[j]) << "gl=" << gl << " row " << n;
        ASSERT_EQ(w[n * K + j], s[n * E + want[j]]);
      }
      if (gl && want != BruteTopK(s.data() + n * E, E, K, false, G, TG)) ++differs;
    }
    if (gl) {
      EXPECT_GT(differs, 0) << "no row where group limiting mattered";
    }
  }
}

// Device-limited routing: every token's K experts lie on at most M
// devices, those are the M devices with the best single expert, and the
// choice equals the brute-force group-limited transcription with
// n_group = devices, topk_group = M.
TEST(TopKTest, DeviceLimitedStaysOnMDevices) {
  const int64_t N = 2000, E = 32, K = 6;
  for (int64_t D : {2, 4, 8}) {
    for (int64_t M = 1; M <= std::min<int64_t>(D, 3); ++M) {
      if (K > M * (E / D)) continue;
      std::vector<float> s = RandomVector(N * E, 11 + D * 7 + M);
      for (float& x : s) x = std::round(std::fabs(x) * 50.0f) / 50.0f;  // ties
      std::vector<int32_t> idx(N * K);
      std::vector<float> w(N * K);
      TopKSelectDeviceLimited(idx.data(), w.data(), s.data(), N, E, K, D, M);
      int64_t exceeded_without_limit = 0;
      for (int64_t n = 0; n < N; ++n) {
        std::vector<bool> used(D, false);
        for (int64_t k = 0; k < K; ++k) used[idx[n * K + k] / (E / D)] = true;
        ASSERT_LE(std::count(used.begin(), used.end(), true), M)
            << "D=" << D << " M=" << M << " token " << n;
        std::vector<int32_t> want = BruteTopK(s.data() + n * E, E, K, true, D, M);
        ASSERT_EQ(std::vector<int32_t>(idx.begin() + n * K, idx.begin() + (n + 1) * K), want);
        std::vector<int32_t> free = BruteTopK(s.data() + n * E, E, K, false, D, M);
        std::vector<bool> free_used(D, false);
        for (int32_t e : free) free_used[e / (E / D)] = true;
        exceeded_without_limit += std::count(free_used.begin(), free_used.end(), true) > M;
      }
      // The limit was binding for some tokens (otherwise the test is vacuous).
      if (M < D) {
        EXPECT_GT(exceeded_without_limit, 0) << "D=" << D << " M=" << M;
      }
    }
  }
}

}  // namespace
}  // namespace hs::kernels::cpu
