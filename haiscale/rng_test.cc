#include "haiscale/rng.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/threads.h"

namespace hs {
namespace {

TEST(PhiloxTest, KnownAnswer) {
  // Random123's published known-answer test for philox4x32-10 with
  // counter = 0 and key = 0: 6627e8d5 e169c58d bc57ac4c 9b00dbd8.
  Philox rng(0, 0);
  auto b = rng.Block(0);
  EXPECT_EQ(b[0], 0x6627e8d5u);
  EXPECT_EQ(b[1], 0xe169c58du);
  EXPECT_EQ(b[2], 0xbc57ac4cu);
  EXPECT_EQ(b[3], 0x9b00dbd8u);
}

TEST(PhiloxTest, ElementsAreIndependentOfFillOrder) {
  std::vector<float> all(1000), tail(10);
  FillNormal(all.data(), 1000, 7, StreamId("w"), 0.0f, 1.0f);
  // Regenerating a prefix gives the same values: element i depends on i only.
  std::vector<float> prefix(8);
  FillNormal(prefix.data(), 8, 7, StreamId("w"), 0.0f, 1.0f);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(prefix[i], all[i]);
  // Different stream, different numbers.
  std::vector<float> other(8);
  FillNormal(other.data(), 8, 7, StreamId("v"), 0.0f, 1.0f);
  EXPECT_NE(other[0], all[0]);
}

TEST(PhiloxTest, MultithreadedFillIsBitIdenticalToOneThread) {
  // Large enough for the parallel path; odd so the last block is partial.
  const int64_t n = 1000003;
  std::vector<float> one(n), many(n), uni_one(n), uni_many(n);
  SetNumThreads(1);
  FillNormal(one.data(), n, 42, StreamId("model.layers.0.mlp.up_proj.weight"), 0.0f, 0.02f);
  FillUniform(uni_one.data(), n, 42, 9, -1.0f, 1.0f);
  SetNumThreads(4);
  FillNormal(many.data(), n, 42, StreamId("model.layers.0.mlp.up_proj.weight"), 0.0f, 0.02f);
  FillUniform(uni_many.data(), n, 42, 9, -1.0f, 1.0f);
  SetNumThreads(0);
  EXPECT_EQ(std::memcmp(one.data(), many.data(), n * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(uni_one.data(), uni_many.data(), n * sizeof(float)), 0);
  // And both equal the Box-Muller definition from the Philox words.
  Philox rng(42, StreamId("model.layers.0.mlp.up_proj.weight"));
  for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{3}, int64_t{777777}, n - 1}) {
    auto b = rng.Block(uint64_t(i) / 4);
    const int pair = int(i % 4) / 2;
    double u1 = (double(b[2 * pair] >> 8) + 1.0) / 16777216.0;
    double u2 = double(b[2 * pair + 1] >> 8) / 16777216.0;
    double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
    float z = float(i % 2 == 0 ? r * std::cos(a) : r * std::sin(a));
    EXPECT_EQ(one[i], 0.0f + 0.02f * z) << i;
  }
}

TEST(PhiloxTest, NormalMoments) {
  const int n = 200000;
  std::vector<float> x(n);
  FillNormal(x.data(), n, 1234, 5, 1.0f, 2.0f);
  double mean = 0, var = 0;
  for (float v : x) mean += v;
  mean /= n;
  for (float v : x) var += (v - mean) * (v - mean);
  var /= n;
  EXPECT_NEAR(mean, 1.0, 0.02);
  EXPECT_NEAR(std::sqrt(var), 2.0, 0.02);
}

TEST(PhiloxTest, UniformRangeAndBelow) {
  Philox rng(3, 4);
  for (uint64_t i = 0; i < 10000; ++i) {
    float u = rng.Uniform(i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    ASSERT_LT(rng.Uint64Below(i, 17), 17u);
  }
}

}  // namespace
}  // namespace hs
