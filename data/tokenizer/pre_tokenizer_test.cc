// File: data/tokenizer/pre_tokenizer_test.cc
//
// Split behaviors, invert, String patterns, Digits and the GPT-2 ByteLevel
// split. Expected pieces are what `tokenizers` 0.23 produces for the same
// pre-tokenizer and text.
#include "data/tokenizer/pre_tokenizer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hs::data {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

std::vector<std::string> Pieces(const PreTokenizer& pre, std::string_view text) {
  std::vector<std::string> out;
  pre.ForEachPiece(text, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}

PreTokenizerStep ByteLevelStep(bool add_prefix_space, bool use_regex) {
  PreTokenizerStep step;
  step.kind = PreTokenizerStep::Kind::kByteLevel;
  step.add_prefix_space = add_prefix_space;
  step.use_regex = use_regex;
  return step;
}

PreTokenizer SplitThenBytes(std::string_view pattern, SplitBehavior behavior, bool invert) {
  PreTokenizerStep split;
  split.regex = std::shared_ptr<const Regex>(*Regex::Compile(pattern));
  split.behavior = behavior;
  split.invert = invert;
  return *PreTokenizer::Create({split, ByteLevelStep(false, false)});
}

constexpr std::string_view kText = "Hello, world!  How are you?\n\n  12345 abc";
constexpr std::string_view kDelims = "[ ,!?]";

TEST(PreTokenizerTest, IsolatedKeepsEveryMatchAlone) {
  const std::vector<std::string> want = {"Hello", ",", " ", "world", "!", " ", " ",
                                         "How", " ", "are", " ", "you", "?", "\n\n",
                                         " ", " ", "12345", " ", "abc"};
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kIsolated, false), kText),
              ElementsAreArray(want));
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kIsolated, true), kText),
              ElementsAreArray(want));
}

TEST(PreTokenizerTest, RemovedDropsMatches) {
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kRemoved, false), kText),
              ElementsAre("Hello", "world", "How", "are", "you", "\n\n", "12345", "abc"));
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kRemoved, true), kText),
              ElementsAre(",", " ", "!", " ", " ", " ", " ", "?", " ", " ", " "));
}

TEST(PreTokenizerTest, MergedWithPreviousAndNext) {
  const std::vector<std::string> with_previous = {"Hello,", " ", "world!", " ", " ",
                                                  "How ", "are ", "you?", "\n\n ", " ",
                                                  "12345 ", "abc"};
  const std::vector<std::string> with_next = {"Hello", ",", " world", "!", " ",
                                              " How", " are", " you", "?\n\n", " ",
                                              " 12345", " abc"};
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kMergedWithPrevious, false), kText),
              ElementsAreArray(with_previous));
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kMergedWithPrevious, true), kText),
              ElementsAreArray(with_next));
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kMergedWithNext, false), kText),
              ElementsAreArray(with_next));
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kMergedWithNext, true), kText),
              ElementsAreArray(with_previous));
}

TEST(PreTokenizerTest, ContiguousJoinsRuns) {
  const std::vector<std::string> want = {"Hello", ", ", "world", "!  ", "How", " ",
                                         "are", " ", "you", "?", "\n\n", "  ",
                                         "12345", " ", "abc"};
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kContiguous, false), kText),
              ElementsAreArray(want));
  EXPECT_THAT(Pieces(SplitThenBytes(kDelims, SplitBehavior::kContiguous, true), kText),
              ElementsAreArray(want));
}

TEST(PreTokenizerTest, EmptyMatchesFollowOnigurumaRules) {
  // `x*` matches empty strings between characters; `tokenizers` (Oniguruma)
  // gives these pieces.
  EXPECT_THAT(Pieces(SplitThenBytes("x*", SplitBehavior::kIsolated, false), "abxxc"),
              ElementsAre("a", "b", "xx", "c"));
  EXPECT_THAT(Pieces(SplitThenBytes("x*", SplitBehavior::kMergedWithPrevious, false), "abxxc"),
              ElementsAre("a", "bxx", "c"));
}

TEST(PreTokenizerTest, AnchorsMatchAtLineBoundaries) {
  // Oniguruma's Ruby syntax: `$` before every newline, `^` after it.
  EXPECT_THAT(Pieces(SplitThenBytes("\\s+$", SplitBehavior::kIsolated, false), "a  \nab \n"),
              ElementsAre("a", "  ", "\nab", " \n"));
  EXPECT_THAT(Pieces(SplitThenBytes("^a", SplitBehavior::kIsolated, false), "a  \nab \n"),
              ElementsAre("a", "  \n", "a", "b \n"));
}

TEST(PreTokenizerTest, StringPatternIsLiteral) {
  EXPECT_THAT(Pieces(SplitThenBytes(Regex::EscapeLiteral("."), SplitBehavior::kIsolated, false),
                     "a.b*c.d"),
              ElementsAre("a", ".", "b*c", ".", "d"));
}

TEST(PreTokenizerTest, Gpt2ByteLevelSplit) {
  EXPECT_THAT(Pieces(PreTokenizer::Gpt2(), "Hello world's 123 foo!!  \n\n bar  "),
              ElementsAre("Hello", " world", "'s", " 123", " foo", "!!", "  \n\n", " bar", "  "));
  PreTokenizer with_prefix = *PreTokenizer::Create({ByteLevelStep(true, true)});
  EXPECT_THAT(Pieces(with_prefix, "Hello world"), ElementsAre(" Hello", " world"));
  EXPECT_THAT(Pieces(with_prefix, " Hello"), ElementsAre(" Hello"));
}

TEST(PreTokenizerTest, DeepSeekSplits) {
  // Digits in groups of three, CJK runs alone, a space joins the
  // punctuation after it.
  EXPECT_THAT(Pieces(PreTokenizer::DeepSeek(), "abc 1234567 你好世界ok .net"),
              ElementsAre("abc", " ", "123", "456", "7", " ", "你好世界", "ok", " .", "net"));
}

TEST(PreTokenizerTest, InvalidUtf8NeverMatchesButIsKept) {
  const std::string text = "ab\xff\xfe cd\xc3";
  std::string joined;
  for (const std::string& p : Pieces(PreTokenizer::Gpt2(), text)) joined += p;
  EXPECT_EQ(joined, text);
}

TEST(PreTokenizerTest, ByteLevelMustBeLast) {
  PreTokenizerStep split;
  split.regex = std::shared_ptr<const Regex>(*Regex::Compile("a"));
  EXPECT_FALSE(PreTokenizer::Create({ByteLevelStep(false, true), split}).ok());
  EXPECT_FALSE(PreTokenizer::Create({split}).ok());
}

TEST(PreTokenizerTest, BadRegexNamesPattern) {
  absl::StatusOr<std::unique_ptr<Regex>> re = Regex::Compile("(unclosed");
  ASSERT_FALSE(re.ok());
  EXPECT_THAT(std::string(re.status().message()), ::testing::HasSubstr("(unclosed"));
}

}  // namespace
}  // namespace hs::data
