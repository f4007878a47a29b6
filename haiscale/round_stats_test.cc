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

TEST(RoundStatsTest, RoundMeansGroupConsecutiveSteps) {
  EXPECT_EQ(RoundMeans({1, 3, 5, 7, 9}, 2), (std::vector<double>{2, 6, 9}));
  EXPECT_TRUE(RoundMeans({1, 2}, 0).empty());
}

}  // namespace
}  // namespace hs
