// File: optim/clip_test.cc
//
// Global-norm clipping: the norm value, torch's scale, the no-op below the
// threshold, non-finite reporting, and bit-identical sums for 1 vs 2
// OpenMP threads.
#include "optim/clip.h"

#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/rng.h"

namespace hs::optim {
namespace {

TEST(ClipTest, NormAndScale) {
  std::vector<float> g = {3.f, 4.f};
  ClipResult r = ClipGradNorm(g.data(), 2, /*max_norm=*/1.0);
  EXPECT_DOUBLE_EQ(r.norm, 5.0);
  EXPECT_TRUE(r.finite);
  EXPECT_TRUE(r.clipped);
  EXPECT_DOUBLE_EQ(r.scale, 1.0 / (5.0 + 1e-6));
  EXPECT_FLOAT_EQ(g[0], float(3.0 / (5.0 + 1e-6)));
  EXPECT_FLOAT_EQ(g[1], float(4.0 / (5.0 + 1e-6)));
  // The clipped gradient's norm is max_norm (up to the 1e-6).
  EXPECT_NEAR(std::sqrt(SumOfSquares(g.data(), 2)), 1.0, 1e-6);
}

TEST(ClipTest, NoOpUnderThresholdAndWhenDisabled) {
  std::vector<float> g = {3.f, 4.f};
  ClipResult r = ClipGradNorm(g.data(), 2, 5.0);  // norm == max: untouched
  EXPECT_DOUBLE_EQ(r.norm, 5.0);
  EXPECT_FALSE(r.clipped);
  EXPECT_EQ(r.scale, 1.0);
  EXPECT_EQ(g[0], 3.f);
  EXPECT_EQ(g[1], 4.f);
  r = ClipGradNorm(g.data(), 2, 0.0);  // disabled: measure only
  EXPECT_DOUBLE_EQ(r.norm, 5.0);
  EXPECT_FALSE(r.clipped);
  EXPECT_EQ(g[1], 4.f);
  r = ClipGradNorm(nullptr, 0, 1.0);
  EXPECT_EQ(r.norm, 0.0);
  EXPECT_FALSE(r.clipped);
}

TEST(ClipTest, LargeSpanMatchesDoubleSum) {
  const int64_t n = 3 * kClipChunk + 17;
  std::vector<float> g(n);
  FillUniform(g.data(), n, 1, 2, -1.f, 1.f);
  long double ref = 0;
  for (float x : g) ref += (long double)x * x;
  EXPECT_NEAR(SumOfSquares(g.data(), n), double(ref), 1e-9 * double(ref));
}

TEST(ClipTest, NonFiniteReportedAndGradsUntouched) {
  std::vector<float> g = {1.f, std::numeric_limits<float>::quiet_NaN(), 100.f};
  ClipResult r = ClipGradNorm(g.data(), 3, 1.0);
  EXPECT_FALSE(r.finite);
  EXPECT_TRUE(std::isnan(r.norm));
  EXPECT_FALSE(r.clipped);
  EXPECT_EQ(g[0], 1.f);
  EXPECT_EQ(g[2], 100.f);
  g[1] = std::numeric_limits<float>::infinity();
  r = ClipGradNorm(g.data(), 3, 1.0);
  EXPECT_FALSE(r.finite);
  EXPECT_TRUE(std::isinf(r.norm));
  EXPECT_EQ(g[2], 100.f);
}

TEST(ClipTest, DeterministicAcrossThreadCounts) {
  // Values spanning many magnitudes make the sum order-sensitive, so a
  // thread-count dependent reduction would show up in the last bits.
  const int64_t n = 1000003;
  std::vector<float> g(n);
  FillNormal(g.data(), n, 3, 4, 0.f, 1.f);
  for (int64_t i = 0; i < n; i += 7) g[i] *= 1e4f;
  for (int64_t i = 3; i < n; i += 11) g[i] *= 1e-4f;
  omp_set_num_threads(1);
  double one = SumOfSquares(g.data(), n);
  std::vector<float> c1 = g;
  ClipResult r1 = ClipGradNorm(c1.data(), n, 1.0);
  omp_set_num_threads(2);
  double two = SumOfSquares(g.data(), n);
  std::vector<float> c2 = g;
  ClipResult r2 = ClipGradNorm(c2.data(), n, 1.0);
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_EQ(one, two);  // bit-identical, not just close
  EXPECT_EQ(r1.norm, r2.norm);
  EXPECT_EQ(c1, c2);
  EXPECT_TRUE(r1.clipped);
}

}  // namespace
}  // namespace hs::optim
