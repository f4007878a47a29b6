// File: data/post/post_data_test.cc
#include "data/post/post_data.h"

#include <string>
#include <vector>

#include "data/post/addition_task.h"
#include "data/post/rows_file.h"
#include "data/test_util.h"
#include "data/tokenizer/bpe_trainer.h"
#include "haiscale/io/atomic_file.h"
#include "gtest/gtest.h"

namespace hs::data::post {
namespace {

// Byte-level tokenizer (no merges): every byte is one token, so expected ids
// are easy to write; DeepSeek's bos/eos are added tokens 0 and 1.
Tokenizer ByteTokenizer() {
  BpeTrainOptions o;
  o.vocab_size = 258;
  o.special_tokens = {kDeepSeekBos, kDeepSeekEos};
  std::vector<std::string_view> texts = {"0123456789+="};
  auto tok = TrainBpe(texts, o);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return *std::move(tok);
}

TemplateContext Context(const Tokenizer& tok, ChatFormat format) {
  TemplateContext ctx;
  ctx.tokenizer = &tok;
  ctx.format = format;
  ctx.special = {kDeepSeekBos, kDeepSeekEos};
  return ctx;
}

std::string TrainedText(const Tokenizer& tok, const TokenizedExample& ex) {
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < ex.ids.size(); ++i) {
    if (ex.trained[i]) ids.push_back(uint32_t(ex.ids[i]));
  }
  return *tok.Decode(ids);
}

TEST(TokenizeConversationTest, PlainTrainsOnlyTheAnswerAndEos) {
  Tokenizer tok = ByteTokenizer();
  auto ex = TokenizeConversation({{"user", "12+34="}, {"assistant", "46"}},
                                 Context(tok, ChatFormat::kPlain), false);
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(*tok.Decode(std::vector<uint32_t>(ex->ids.begin(), ex->ids.end())),
            std::string(kDeepSeekBos) + "12+34=\n46" + kDeepSeekEos);
  EXPECT_EQ(TrainedText(tok, *ex), std::string("46") + kDeepSeekEos);
}

TEST(TokenizeConversationTest, DeepSeekMultiTurnTrainsEachReply) {
  Tokenizer tok = ByteTokenizer();
  auto ex = TokenizeConversation({{"system", "S"}, {"user", "a"}, {"assistant", "b"},
                                  {"user", "c"}, {"assistant", "d"}},
                                 Context(tok, ChatFormat::kDeepSeekV2), false);
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(*tok.Decode(std::vector<uint32_t>(ex->ids.begin(), ex->ids.end())),
            std::string(kDeepSeekBos) + "S\n\nUser: a\n\nAssistant: b" + kDeepSeekEos +
                "User: c\n\nAssistant: d" + kDeepSeekEos);
  EXPECT_EQ(TrainedText(tok, *ex), std::string(" b") + kDeepSeekEos + " d" + kDeepSeekEos);
  auto all = TokenizeConversation({{"user", "a"}, {"assistant", "b"}},
                                  Context(tok, ChatFormat::kDeepSeekV2), true);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(TrainedText(tok, *all), *tok.Decode(std::vector<uint32_t>(all->ids.begin(),
                                                                       all->ids.end())));
  EXPECT_FALSE(TokenizeConversation({{"user", "a"}}, Context(tok, ChatFormat::kPlain), false).ok());
}

TokenizedExample Example(int n, bool trained) {
  TokenizedExample ex;
  for (int i = 0; i < n; ++i) {
    ex.ids.push_back(10 + i);
    ex.trained.push_back(trained && i > 0);
  }
  return ex;
}

TEST(PackTest, BestFitDecreasingPacksRowsWithPositionsAndMask) {
  // Positions needed: 6, 3, 5, 2, 4 (ids - 1) into rows of 8:
  // 6 -> row0 (free 2); 5 -> row1 (free 3); 4 -> row2 (free 4);
  // 3 -> row1 (free 0); 2 -> row0 (free 0).
  std::vector<TokenizedExample> ex = {Example(7, true), Example(4, true), Example(6, true),
                                      Example(3, true), Example(5, true)};
  PackStats stats;
  PostRows rows = PackBestFitDecreasing(ex, 8, 100, false, &stats);
  ASSERT_EQ(rows.num_rows(), 3);
  EXPECT_EQ(stats.examples, 5);
  EXPECT_EQ(stats.padding, 4);
  EXPECT_EQ(rows.trained_tokens(), 6 + 3 + 5 + 2 + 4);
  const std::vector<int32_t> pos0(rows.positions.begin(), rows.positions.begin() + 8);
  EXPECT_EQ(pos0, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 0, 1}));
  const std::vector<int32_t> tgt0(rows.targets.begin(), rows.targets.begin() + 8);
  EXPECT_EQ(tgt0, (std::vector<int32_t>{11, 12, 13, 14, 15, 16, 11, 12}));
  const std::vector<int32_t> tgt2(rows.targets.begin() + 16, rows.targets.end());
  EXPECT_EQ(tgt2, (std::vector<int32_t>{11, 12, 13, 14, -1, -1, -1, -1}));
}

TEST(PackTest, LongExamplesAreTruncatedOrDroppedAndUntrainedOnesDropped) {
  std::vector<TokenizedExample> ex = {Example(20, true), Example(4, false), Example(3, true)};
  PackStats stats;
  PostRows rows = PackBestFitDecreasing(ex, 8, 100, false, &stats);
  EXPECT_EQ(stats.truncated, 1);
  EXPECT_EQ(stats.dropped, 1);
  EXPECT_EQ(rows.trained_tokens(), 8 + 2);
  rows = PackBestFitDecreasing(ex, 8, 100, true, &stats);
  EXPECT_EQ(stats.dropped, 2);
  EXPECT_EQ(rows.trained_tokens(), 2);
}

TEST(PreferenceTest, StringsAndMessageListsGiveTheSameRows) {
  Tokenizer tok = ByteTokenizer();
  TemplateContext ctx = Context(tok, ChatFormat::kPlain);
  auto a = ParsePreference(R"({"prompt":"1+2=","chosen":"3","rejected":"4"})", "p.jsonl:1", ctx);
  auto b = ParsePreference(
      R"({"prompt":[{"role":"user","content":"1+2="}],"chosen":[{"role":"assistant","content":"3"}],)"
      R"("rejected":[{"role":"assistant","content":"4"}]})",
      "p.jsonl:2", ctx);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->prompt, b->prompt);
  EXPECT_EQ(a->chosen, b->chosen);
  EXPECT_EQ(a->rejected, b->rejected);
  PackStats stats;
  PostRows rows = PairRows({*a}, 16, tok.vocab_size(), &stats);
  ASSERT_EQ(rows.num_rows(), 2);
  // Trained: the answer digit and eos, in each row.
  EXPECT_EQ(rows.trained_tokens(), 4);
  auto bad = ParsePreference(R"({"prompt":"x","chosen":"y"})", "p.jsonl:3", ctx);
  EXPECT_EQ(bad.status().message(), "p.jsonl:3: missing \"rejected\"");
  bad = ParsePreference(R"({"prompt":"x","chosen":[{"role":"user","content":"y"}],"rejected":"z"})",
                        "p.jsonl:4", ctx);
  EXPECT_NE(bad.status().message().find("p.jsonl:4: \"chosen\" may hold assistant messages only"),
            std::string::npos);
}

TEST(RowsFileTest, RoundTripAndCorruptionIsNamed) {
  std::vector<TokenizedExample> ex = {Example(7, true), Example(4, true)};
  PackStats stats;
  PostRows rows = PackBestFitDecreasing(ex, 8, 100, false, &stats);
  const std::string dir = testing::TestPath("rows_roundtrip");
  ASSERT_TRUE(WritePostRows(dir, rows, PackSummary(rows, stats)).ok());
  EXPECT_TRUE(IsPostRowsDir(dir));
  auto back = ReadPostRows(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->tokens, rows.tokens);
  EXPECT_EQ(back->targets, rows.targets);
  EXPECT_EQ(back->positions, rows.positions);
  EXPECT_EQ(back->num_examples, 2);
  std::string bytes = *io::ReadFileToString(dir + "/rows.hpr");
  bytes[70] ^= 1;
  ASSERT_TRUE(io::WriteFileAtomically(dir + "/rows.hpr", bytes).ok());
  auto bad = ReadPostRows(dir);
  EXPECT_NE(bad.status().message().find("rows.hpr: checksum mismatch"), std::string::npos);
}

TEST(AdditionTaskTest, WrongSumIsAlwaysWrong) {
  for (int64_t a = 0; a < 120; a += 7) {
    for (int64_t b = 0; b < 1000; b += 37) {
      for (uint64_t pick = 0; pick < 6; ++pick) {
        const int64_t w = WrongSum(a, b, pick);
        EXPECT_NE(w, a + b) << a << "+" << b << " pick " << pick;
        EXPECT_GE(w, 0);
      }
    }
  }
}

}  // namespace
}  // namespace hs::data::post
