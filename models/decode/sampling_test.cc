// Sampling filters against hand computations, greedy ties, the inverse-CDF
// draw, parameter checks, and determinism for a seed.
#include "models/decode/sampling.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/rng.h"

namespace hs::models::decode {
namespace {

// logits ln(4), ln(3), ln(2), ln(1), ln(0.5) ... give probabilities
// proportional to 4 : 3 : 2 : 1 : 0.5 at temperature 1 (sum 10.5).
std::vector<float> Logits() {
  return {std::log(2.0f), std::log(4.0f), std::log(0.5f), std::log(3.0f), std::log(1.0f)};
}

TEST(SamplingTest, TemperatureOneIsTheSoftmax) {
  const std::vector<float> l = Logits();
  Candidates c = FilteredDistribution(l.data(), 5, {.temperature = 1.0});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{1, 3, 0, 4, 2}));
  const double expect[] = {4 / 10.5, 3 / 10.5, 2 / 10.5, 1 / 10.5, 0.5 / 10.5};
  ASSERT_EQ(c.probs.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(c.probs[i], expect[i], 1e-6) << i;
}

TEST(SamplingTest, TemperatureSharpens) {
  const std::vector<float> l = Logits();
  // T = 0.5 squares the ratios: 16 : 9 : 4 : 1 : 0.25.
  Candidates c = FilteredDistribution(l.data(), 5, {.temperature = 0.5});
  const double sum = 16 + 9 + 4 + 1 + 0.25;
  EXPECT_NEAR(c.probs[0], 16 / sum, 1e-6);
  EXPECT_NEAR(c.probs[4], 0.25 / sum, 1e-6);
}

TEST(SamplingTest, TopKKeepsTheKMostProbableRenormalised) {
  const std::vector<float> l = Logits();
  Candidates c = FilteredDistribution(l.data(), 5, {.temperature = 1.0, .top_k = 2});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{1, 3}));
  EXPECT_NEAR(c.probs[0], 4.0 / 7.0, 1e-6);
  EXPECT_NEAR(c.probs[1], 3.0 / 7.0, 1e-6);
}

TEST(SamplingTest, TopPKeepsTheTokenThatCrossesP) {
  const std::vector<float> l = Logits();
  // Cumulative masses 4, 7, 9, 10 (of 10.5): top_p 0.6 needs 7/10.5 = 0.667.
  Candidates c = FilteredDistribution(l.data(), 5, {.temperature = 1.0, .top_p = 0.6});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{1, 3}));
  EXPECT_NEAR(c.probs[0], 4.0 / 7.0, 1e-6);
  // 0.38 < 4/10.5 = 0.381: the first token alone.
  c = FilteredDistribution(l.data(), 5, {.temperature = 1.0, .top_p = 0.38});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{1}));
  EXPECT_NEAR(c.probs[0], 1.0, 1e-12);
  // 0.9: masses before the 4th token are 9/10.5 = 0.857 < 0.9, so it stays.
  c = FilteredDistribution(l.data(), 5, {.temperature = 1.0, .top_p = 0.9});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{1, 3, 0, 4}));
  EXPECT_NEAR(c.probs[3], 1.0 / 10.0, 1e-6);
}

TEST(SamplingTest, TopKThenTopP) {
  const std::vector<float> l = Logits();
  // top-k 3 renormalises to 4:3:2 (of 9); top-p 0.5 then keeps 4/9 and 3/9
  // (4/9 = 0.44 < 0.5).
  Candidates c =
      FilteredDistribution(l.data(), 5, {.temperature = 1.0, .top_k = 3, .top_p = 0.5});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{1, 3}));
}

TEST(SamplingTest, GreedyTakesTheLowestIdAmongEquals) {
  const std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(SampleToken(l.data(), 4, {}, 0.99f), 1);
  EXPECT_EQ(Argmax(l.data(), 4), 1);
}

TEST(SamplingTest, InverseCdfDrawWithoutFiltersWalksIds) {
  const std::vector<float> l = Logits();
  const SamplingParams p{.temperature = 1.0};
  // Ids 0..4 weigh 2, 4, 0.5, 3, 1: cumulative 2, 6, 6.5, 9.5, 10.5 (/10.5).
  EXPECT_EQ(SampleToken(l.data(), 5, p, 0.0f), 0);
  EXPECT_EQ(SampleToken(l.data(), 5, p, float(1.9 / 10.5)), 0);
  EXPECT_EQ(SampleToken(l.data(), 5, p, float(2.1 / 10.5)), 1);
  EXPECT_EQ(SampleToken(l.data(), 5, p, float(6.2 / 10.5)), 2);
  EXPECT_EQ(SampleToken(l.data(), 5, p, float(9.4 / 10.5)), 3);
  EXPECT_EQ(SampleToken(l.data(), 5, p, 0.9999f), 4);
}

TEST(SamplingTest, InverseCdfDrawWalksMostProbableFirst) {
  const std::vector<float> l = Logits();
  const SamplingParams p{.temperature = 1.0, .top_p = 0.99999};
  // Order 1, 3, 0, 4, 2 with cumulative 4, 7, 9, 10, 10.5 (/10.5).
  EXPECT_EQ(SampleToken(l.data(), 5, p, 0.0f), 1);
  EXPECT_EQ(SampleToken(l.data(), 5, p, float(3.9 / 10.5)), 1);
  EXPECT_EQ(SampleToken(l.data(), 5, p, float(4.1 / 10.5)), 3);
  EXPECT_EQ(SampleToken(l.data(), 5, p, float(8.9 / 10.5)), 0);
  EXPECT_EQ(SampleToken(l.data(), 5, p, float(9.5 / 10.5)), 4);
  EXPECT_EQ(SampleToken(l.data(), 5, p, 0.9999f), 2);
}

TEST(SamplingTest, FrequenciesFollowTheFilteredDistribution) {
  const std::vector<float> l = Logits();
  // top-k 3 and top-p 0.85 (masses before: 0, 0.38, 0.67, 0.86) keep the
  // same three tokens: 4/9, 3/9, 2/9.
  for (const SamplingParams p : {SamplingParams{.temperature = 1.0, .top_k = 3},
                                 SamplingParams{.temperature = 1.0, .top_p = 0.85}}) {
    Philox rng(42, 0);
    std::vector<int> count(5, 0);
    const int n = 20000;
    for (int i = 0; i < n; ++i) ++count[SampleToken(l.data(), 5, p, rng.Uniform(i))];
    EXPECT_EQ(count[2] + count[4], 0);
    EXPECT_NEAR(count[1] / double(n), 4.0 / 9.0, 0.015);
    EXPECT_NEAR(count[3] / double(n), 3.0 / 9.0, 0.015);
    EXPECT_NEAR(count[0] / double(n), 2.0 / 9.0, 0.015);
  }
  // Unfiltered: the softmax itself.
  Philox rng(43, 0);
  std::vector<int> count(5, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    ++count[SampleToken(l.data(), 5, {.temperature = 1.0}, rng.Uniform(i))];
  }
  const double expect[] = {2, 4, 0.5, 3, 1};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(count[i] / double(n), expect[i] / 10.5, 0.015) << i;
}

TEST(SamplingTest, BatchedRowsEqualSingleRows) {
  const int64_t B = 6, V = 50;
  std::vector<float> logits(B * V), u(B);
  FillNormal(logits.data(), B * V, 3, 1, 0.0f, 2.0f);
  FillUniform(u.data(), B, 3, 2, 0.0f, 1.0f);
  const SamplingParams p{.temperature = 0.8, .top_k = 10, .top_p = 0.9};
  std::vector<int32_t> out(B);
  SampleTokens(out.data(), logits.data(), B, V, p, u.data());
  for (int64_t b = 0; b < B; ++b) {
    EXPECT_EQ(out[b], SampleToken(logits.data() + b * V, V, p, u[b])) << b;
  }
}

TEST(SamplingTest, RejectsBadParameters) {
  EXPECT_FALSE(CheckSamplingParams({.temperature = -1}).ok());
  EXPECT_FALSE(CheckSamplingParams({.top_k = -2}).ok());
  EXPECT_FALSE(CheckSamplingParams({.top_p = 0}).ok());
  EXPECT_FALSE(CheckSamplingParams({.top_p = 1.5}).ok());
  EXPECT_NE(std::string(CheckSamplingParams({.top_p = 0}).message()).find("--top-p"),
            std::string::npos);
  EXPECT_TRUE(CheckSamplingParams({.temperature = 0.7, .top_k = 40, .top_p = 0.95}).ok());
}

}  // namespace
}  // namespace hs::models::decode
