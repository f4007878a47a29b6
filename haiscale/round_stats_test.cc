// File: haiscale/round_stats_test.cc
#include "haiscale/round_stats.h"

#include <gtest/gtest.h>

namespace hs {
namespace {

TEST(RoundStatsTest, MedianOfOddEvenAndNone) {
  EXPECT_DOUBLE_EQ(MedianOf({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(MedianOf({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(MedianOf({}), 0);
  EXPECT_DOUBLE_EQ(MeanOf({1, 2, 6}), 3);
  EXPECT_DOUBLE_EQ(MeanOf({}), 0);
}

TEST(RoundStatsTest, ComparesRoundByRound) {
  // Round 1 is slow for both: paired ratios stay near 1 although the
  // medians of the two series alone would say 2x.
  const RoundComparison c = CompareRounds({1.0, 4.0, 1.1}, {1.0, 4.4, 1.0});
  EXPECT_EQ(c.rounds, 3);
  EXPECT_EQ(c.lower, 1);
  EXPECT_EQ(c.higher, 1);  // round 0 is a tie: neither
  EXPECT_DOUBLE_EQ(c.median, 1.0);
  EXPECT_NEAR(c.min, 4.0 / 4.4, 1e-12);
  EXPECT_NEAR(c.max, 1.1, 1e-12);
}

TEST(RoundStatsTest, SkipsZeroDenominatorsAndUnpairedRounds) {
  const RoundComparison c = CompareRounds({2, 3, 5}, {1, 0});
  EXPECT_EQ(c.rounds, 1);
  EXPECT_DOUBLE_EQ(c.median, 2);
  const RoundComparison none = CompareRounds({}, {});
  EXPECT_EQ(none.rounds, 0);
  EXPECT_DOUBLE_EQ(none.median, 0);
}

TEST(RoundStatsTest, SignTestMatchesTheBinomialTails) {
  // 4 of 18: (1 + 18 + 153 + 816 + 3060) / 2^18, both tails.
  EXPECT_NEAR(SignTestP(4, 18), 2 * 4048.0 / 262144.0, 1e-12);
  EXPECT_DOUBLE_EQ(SignTestP(4, 18), SignTestP(14, 18));
  EXPECT_NEAR(SignTestP(0, 6), 2.0 / 64.0, 1e-12);
  EXPECT_DOUBLE_EQ(SignTestP(3, 6), 1.0);  // an even split: capped at 1
  EXPECT_DOUBLE_EQ(SignTestP(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(SignTestP(7, 6), 1.0);  // out of range: no evidence
  const double big = SignTestP(400, 1000);  // far out: tiny but a number
  EXPECT_GT(big, 0.0);
  EXPECT_LT(big, 1e-9);
}

TEST(RoundStatsTest, ComparisonCarriesTheSignTest) {
  const RoundComparison all_lower = CompareRounds({1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2});
  EXPECT_EQ(all_lower.lower, 6);
  EXPECT_NEAR(all_lower.sign_p(), 2.0 / 64.0, 1e-12);
  // Ties count for neither side and leave the test.
  const RoundComparison ties = CompareRounds({1, 1, 1, 2}, {1, 1, 1, 3});
  EXPECT_NEAR(ties.sign_p(), 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(CompareRounds({}, {}).sign_p(), 1.0);
}

TEST(RoundStatsTest, RoundMeansGroupConsecutiveSteps) {
  EXPECT_EQ(RoundMeans({1, 3, 5, 7, 9}, 2), (std::vector<double>{2, 6, 9}));
  EXPECT_TRUE(RoundMeans({1, 2}, 0).empty());
}

}  // namespace
}  // namespace hs
