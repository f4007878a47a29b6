// File: data/post/answer_pairs_test.cc
#include "data/post/answer_pairs.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hs::data::post {
namespace {

using Json = nlohmann::json;

// An eval-task --out record for a one-message prompt.
std::string Answer(const std::string& prompt, const std::string& reference,
                   const std::string& answer) {
  Json rec = {{"prompt", "<bos>" + prompt + "\n"},
              {"prompt_messages", Json::array({{{"role", "user"}, {"content", prompt}}})},
              {"reference", reference},
              {"answer", answer},
              {"correct", answer == reference}};
  return rec.dump() + "\n";
}

std::vector<Json> Lines(const std::string& jsonl) {
  std::vector<Json> out;
  size_t start = 0;
  while (start < jsonl.size()) {
    const size_t end = jsonl.find('\n', start);
    out.push_back(Json::parse(jsonl.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

TEST(AnswerPairs, ReferenceChosenEachDistinctWrongAnswerRejected) {
  // Sampled answers, interleaved across prompts: 1+1 gets two distinct
  // wrong answers (one repeated), 2+2 is always right, 3+3 one wrong.
  const std::string in = Answer("1+1=", "2", "3") + Answer("2+2=", "4", "4") +
                         Answer("1+1=", "2", "2") + Answer("1+1=", "2", " 3 ") +
                         Answer("3+3=", "6", "") + Answer("1+1=", "2", "11") + "\n" +
                         Answer("2+2=", "4", "4");
  auto pairs = PairsFromAnswers(in, "answers.jsonl", {});
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  const std::vector<Json> got = Lines(pairs->jsonl);
  const std::vector<Json> want = {
      {{"prompt", "1+1="}, {"chosen", "2"}, {"rejected", "3"}},
      {{"prompt", "1+1="}, {"chosen", "2"}, {"rejected", "11"}},
      {{"prompt", "3+3="}, {"chosen", "6"}, {"rejected", ""}},
  };
  EXPECT_EQ(got, want);
  const AnswerPairStats& s = pairs->stats;
  EXPECT_EQ(s.answers, 7);
  EXPECT_EQ(s.prompts, 3);
  EXPECT_EQ(s.wrong, 4);       // "3", " 3 " (the same once trimmed), "", "11"
  EXPECT_EQ(s.duplicates, 1);
  EXPECT_EQ(s.over_limit, 0);
  EXPECT_EQ(s.all_correct, 1);
  EXPECT_EQ(s.pairs, 3);
  EXPECT_EQ(s.prompts_paired, 2);
  EXPECT_EQ(AnswerPairSummary(s),
            "7 answers to 3 prompts, 4 wrong (1 repeated, 0 over the per-prompt limit); "
            "3 pairs from 2 prompts; 1 prompts answered correctly every time");
}

TEST(AnswerPairs, MaxPerPromptKeepsTheFirstWrongAnswers) {
  const std::string in = Answer("1+1=", "2", "3") + Answer("1+1=", "2", "4") +
                         Answer("1+1=", "2", "5") + Answer("1+1=", "2", "3");
  auto pairs = PairsFromAnswers(in, "a.jsonl", {.max_per_prompt = 1});
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  EXPECT_EQ(Lines(pairs->jsonl),
            std::vector<Json>({{{"prompt", "1+1="}, {"chosen", "2"}, {"rejected", "3"}}}));
  EXPECT_EQ(pairs->stats.over_limit, 2);
  EXPECT_EQ(pairs->stats.duplicates, 1);
}

TEST(AnswerPairs, MultiMessagePromptsKeepTheirMessages) {
  const Json messages = Json::array({{{"role", "system"}, {"content", "Add."}},
                                     {{"role", "user"}, {"content", "1+1="}}});
  const Json rec = {{"prompt_messages", messages}, {"reference", "2"}, {"answer", "3"}};
  auto pairs = PairsFromAnswers(rec.dump(), "a.jsonl", {});
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  EXPECT_EQ(Lines(pairs->jsonl),
            std::vector<Json>({{{"prompt", messages}, {"chosen", "2"}, {"rejected", "3"}}}));
}

TEST(AnswerPairs, AllCorrectGivesNoPairs) {
  auto pairs = PairsFromAnswers(Answer("1+1=", "2", "2"), "a.jsonl", {});
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  EXPECT_EQ(pairs->jsonl, "");
  EXPECT_EQ(pairs->stats.pairs, 0);
  EXPECT_EQ(pairs->stats.all_correct, 1);
}

TEST(AnswerPairs, ErrorsNameTheLineAndField) {
  auto error = [](const std::string& in) {
    auto pairs = PairsFromAnswers(in, "a.jsonl", {});
    EXPECT_FALSE(pairs.ok());
    return std::string(pairs.status().message());
  };
  const std::string good = Answer("1+1=", "2", "3");
  EXPECT_EQ(error(good + "[1,2]\n"), "a.jsonl:2: not a JSON object");
  EXPECT_EQ(error(good + R"({"reference":"2","answer":"3"})"),
            "a.jsonl:2: missing \"prompt_messages\" (write the answers with hai eval-task --out)");
  EXPECT_EQ(error(R"({"prompt_messages":[{"role":"user","content":"1+1="}],"answer":"3"})"),
            "a.jsonl:1: missing \"reference\" (write the answers with hai eval-task --out)");
  EXPECT_EQ(error(R"({"prompt_messages":[{"role":"user","content":"1+1="}],"reference":"2","answer":3})"),
            "a.jsonl:1: \"answer\" must be a string");
  EXPECT_EQ(error(R"({"prompt_messages":[{"role":"robot","content":"x"}],"reference":"2","answer":"3"})"),
            "a.jsonl:1: \"prompt_messages\": messages[0].role: \"robot\" is not system, user or "
            "assistant");
  EXPECT_EQ(error(R"({"prompt_messages":[{"role":"assistant","content":"x"}],"reference":"2","answer":"3"})"),
            "a.jsonl:1: \"prompt_messages\" ends with an assistant message");
  EXPECT_EQ(error(good + "\n" + Answer("1+1=", "3", "4")),
            "a.jsonl:3: reference \"3\" differs from \"2\" of a.jsonl:1 (same prompt)");
  EXPECT_EQ(error("\n\n"), "a.jsonl: no answers");
  EXPECT_FALSE(PairsFromAnswers(good, "a.jsonl", {.max_per_prompt = -1}).ok());
}

}  // namespace
}  // namespace hs::data::post
