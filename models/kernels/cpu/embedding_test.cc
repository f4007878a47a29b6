// File: models/kernels/cpu/embedding_test.cc
//
// Embedding lookup, the += backward with repeated tokens (bit-identical to
// the serial loop for every thread count) and a finite-difference check of
// dtable.
#include "models/kernels/cpu/embedding.h"

#include <vector>

#include "gtest/gtest.h"
#include "haiscale/threads.h"
#include "models/testing/grad_check.h"

namespace hs::kernels::cpu {
namespace {

using ::hs::testing::CheckGradient;
using ::hs::testing::Dot;
using ::hs::testing::RandomProjection;
using ::hs::testing::RandomVector;

// Tokens with many repeats (id 3 appears often) and unused ids.
std::vector<int32_t> Tokens(int64_t N, int32_t V) {
  std::vector<int32_t> t(N);
  for (int64_t n = 0; n < N; ++n) {
    t[n] = (n % 3 == 0) ? 3 : int32_t((n * 7 + 1) % V);
  }
  return t;
}

TEST(EmbeddingTest, ForwardGathersRows) {
  const int64_t N = 13, C = 6;
  const int32_t V = 10;
  std::vector<float> table = RandomVector(V * C, 1);
  std::vector<int32_t> tok = Tokens(N, V);
  std::vector<float> out(N * C, -1.0f);
  EmbeddingForward(out.data(), tok.data(), table.data(), N, C);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      ASSERT_EQ(out[n * C + c], table[tok[n] * C + c]);
    }
  }
}

TEST(EmbeddingTest, BackwardAccumulatesInSerialOrderForAnyThreadCount) {
  const int64_t N = 517, C = 24;
  const int32_t V = 50;
  std::vector<int32_t> tok = Tokens(N, V);
  std::vector<float> dout = RandomVector(N * C, 2);
  std::vector<float> init = RandomVector(V * C, 3);  // += onto existing
  std::vector<float> want = init;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) want[tok[n] * C + c] += dout[n * C + c];
  }
  for (int threads : {1, 2, 3}) {
    SetNumThreads(threads);
    std::vector<float> got = init;
    EmbeddingBackward(got.data(), tok.data(), dout.data(), N, C);
    EXPECT_EQ(got, want) << "threads=" << threads;
  }
  SetNumThreads(0);
}

TEST(EmbeddingTest, GradientMatchesFiniteDifferences) {
  const int64_t N = 9, C = 5;
  const int32_t V = 7;
  std::vector<float> table = RandomVector(V * C, 4);
  std::vector<int32_t> tok = {0, 3, 3, 6, 1, 3, 0, 2, 6};  // id 4, 5 unused
  std::vector<float> r = RandomProjection(N * C, 5);
  std::vector<float> out(N * C);
  auto loss = [&] {
    EmbeddingForward(out.data(), tok.data(), table.data(), N, C);
    return Dot(out.data(), r.data(), N * C);
  };
  std::vector<float> dtable(V * C, 0.0f);
  EmbeddingBackward(dtable.data(), tok.data(), r.data(), N, C);
  auto res = CheckGradient("embedding.dtable", loss, table.data(),
                           dtable.data(), V * C);
  EXPECT_TRUE(res.ok) << res.report;
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_EQ(dtable[4 * C + c], 0.0f);
    EXPECT_EQ(dtable[5 * C + c], 0.0f);
  }
}

}  // namespace
}  // namespace hs::kernels::cpu
