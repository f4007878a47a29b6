// File: haiscale/rl/rewards_test.cc
#include "haiscale/rl/rewards.h"

#include <gtest/gtest.h>

namespace hs::rl {
namespace {

std::unique_ptr<data::Regex> Re(const char* pattern) { return *data::Regex::Compile(pattern); }

TEST(ExtractAnswer, LastMatchTrimmed) {
  auto integer = Re("-?[0-9]+");
  EXPECT_EQ(ExtractAnswer("12 + 30 = 42", *integer), "42");
  EXPECT_EQ(ExtractAnswer("so -7", *integer), "-7");
  EXPECT_FALSE(ExtractAnswer("no digits", *integer).has_value());
  auto after_equals = Re("(?<==) *[0-9]+");
  EXPECT_EQ(ExtractAnswer("3+4= 7 and 9", *after_equals), "7");
}

TEST(ExactMatch, AgainstStringAndNumberFields) {
  auto integer = Re("-?[0-9]+");
  nlohmann::json rec = {{"prompt", "2+3="}, {"answer", 5}, {"text_answer", " 5 "}};
  EXPECT_EQ(*ExactMatchReward(rec, "2+3=5", "answer", *integer), 1.0);
  EXPECT_EQ(*ExactMatchReward(rec, "5", "text_answer", *integer), 1.0);
  EXPECT_EQ(*ExactMatchReward(rec, "2+3=6", "answer", *integer), 0.0);
  EXPECT_EQ(*ExactMatchReward(rec, "none", "answer", *integer), 0.0);
  absl::StatusOr<double> missing = ExactMatchReward(rec, "5", "solution", *integer);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("\"solution\""), std::string::npos);
}

TEST(Format, WholeCompletionMustMatch) {
  auto whole = *CompileWholeMatch("<answer>[0-9]+</answer>");
  EXPECT_EQ(FormatReward("<answer>12</answer>", *whole), 1.0);
  EXPECT_EQ(FormatReward("<answer>12</answer>\n", *whole), 1.0);  // trailing whitespace
  EXPECT_EQ(FormatReward("x<answer>12</answer>", *whole), 0.0);
  EXPECT_EQ(FormatReward("<answer>12</answer>x", *whole), 0.0);
  // Alternation still has to cover the whole text.
  auto alt = *CompileWholeMatch("a|ab");
  EXPECT_EQ(FormatReward("ab", *alt), 1.0);
  EXPECT_FALSE(CompileWholeMatch("(").ok());
}

TEST(LengthPenalty, SoftZoneLinearTruncatedMinusOne) {
  EXPECT_EQ(LengthPenalty(10, false, 20, 5), 0.0);
  EXPECT_EQ(LengthPenalty(15, false, 20, 5), 0.0);
  EXPECT_DOUBLE_EQ(LengthPenalty(17, false, 20, 5), -0.4);
  EXPECT_EQ(LengthPenalty(20, false, 20, 5), -1.0);
  EXPECT_EQ(LengthPenalty(3, true, 20, 5), -1.0);
  EXPECT_EQ(LengthPenalty(19, false, 20, 0), 0.0);
}

TEST(RewardSet, WeightedSumAndPerFunction) {
  nlohmann::json a = {{"answer", "5"}}, b = {{"answer", "6"}};
  std::vector<Completion> batch = {{&a, "=5", 2, false}, {&b, "=5", 19, false}};
  RewardSet set;
  ASSERT_TRUE(set.Add(MakeExactMatchReward("correct", "answer", Re("[0-9]+")), 1.0).ok());
  ASSERT_TRUE(set.Add(MakeFormatReward("format", *CompileWholeMatch("=[0-9]+")), 0.5).ok());
  ASSERT_TRUE(set.Add(MakeLengthPenalty("length", 20, 4), 2.0).ok());
  EXPECT_FALSE(set.Add(MakeLengthPenalty("length", 20, 4), 1.0).ok());  // duplicate name
  absl::StatusOr<BatchRewards> r = set.Score(batch);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->per_function.size(), 3u);
  EXPECT_EQ(r->per_function[0], (std::vector<double>{1, 0}));
  EXPECT_EQ(r->per_function[1], (std::vector<double>{1, 1}));
  EXPECT_EQ(r->per_function[2], (std::vector<double>{0, -0.75}));
  EXPECT_DOUBLE_EQ(r->total[0], 1.5);
  EXPECT_DOUBLE_EQ(r->total[1], 0.5 - 1.5);
}

TEST(RewardSet, ErrorNamesFunctionAndCompletion) {
  nlohmann::json rec = {{"prompt", "x"}};
  RewardSet set;
  ASSERT_TRUE(set.Add(MakeExactMatchReward("correct", "answer", Re("[0-9]+")), 1.0).ok());
  absl::StatusOr<BatchRewards> r = set.Score({{&rec, "1", 1, false}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("reward correct, completion 0"), std::string::npos)
      << r.status();
}

}  // namespace
}  // namespace hs::rl
