// File: data/tokenizer/bpe_trainer_test.cc
//
// BPE training: identical tokenizer.json for every thread count, exact
// vocabulary size, special tokens first, and option errors.
#include "data/tokenizer/bpe_trainer.h"

#include <string>
#include <vector>

#include "data/corpus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hs::data {
namespace {

std::vector<std::string> Documents() {
  // Several texts, one larger than the trainer's chunk size, so both the
  // per-text and the within-text split of the counting work are exercised.
  std::vector<std::string> docs;
  docs.push_back(QuickstartCorpus(3 << 20, 11));
  for (int i = 0; i < 20; ++i) docs.push_back(QuickstartCorpus(4096, uint64_t(i)));
  return docs;
}

TEST(BpeTrainerTest, SameResultForEveryThreadCount) {
  const std::vector<std::string> docs = Documents();
  const std::vector<std::string_view> views(docs.begin(), docs.end());
  for (PreTokenizerStyle style : {PreTokenizerStyle::kGpt2, PreTokenizerStyle::kDeepSeek}) {
    std::string reference;
    for (int threads : {1, 2, 5}) {
      BpeTrainOptions options;
      options.vocab_size = 1000;
      options.pre_tokenizer = style;
      options.special_tokens = {"<|eos|>"};
      options.threads = threads;
      absl::StatusOr<Tokenizer> tok = TrainBpe(views, options);
      ASSERT_TRUE(tok.ok()) << tok.status();
      EXPECT_EQ(tok->vocab_size(), 1000);
      if (reference.empty()) {
        reference = tok->ToJson();
      } else {
        EXPECT_EQ(tok->ToJson(), reference) << "threads " << threads;
      }
    }
  }
}

TEST(BpeTrainerTest, MergesCompressAndSpecialsComeFirst) {
  const std::string text = QuickstartCorpus(1 << 16, 3);
  const std::string_view view = text;
  BpeTrainOptions options;
  options.vocab_size = 2000;
  options.special_tokens = {"<s>", "</s>"};
  absl::StatusOr<Tokenizer> tok = TrainBpe({&view, 1}, options);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*tok->TokenId("<s>"), 0u);
  EXPECT_EQ(*tok->TokenId("</s>"), 1u);
  EXPECT_TRUE(tok->IsSpecial(1));
  // A trained vocabulary needs far fewer tokens than bytes on its corpus.
  EXPECT_LT(tok->Encode(text).size() * 2, text.size());
}

TEST(BpeTrainerTest, MinFrequencyStopsEarly) {
  const std::string text = "abababab cdcd";
  const std::string_view view = text;
  BpeTrainOptions options;
  options.vocab_size = 5000;
  options.min_frequency = 1000;
  absl::StatusOr<Tokenizer> tok = TrainBpe({&view, 1}, options);
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(tok->vocab_size(), 256);  // no pair was frequent enough
}

TEST(BpeTrainerTest, RejectsBadOptions) {
  const std::string_view text = "x";
  BpeTrainOptions options;
  options.vocab_size = 100;
  EXPECT_THAT(std::string(TrainBpe({&text, 1}, options).status().message()),
              ::testing::HasSubstr("256 byte tokens"));
  options.vocab_size = 300;
  options.special_tokens = {"<a>", "<a>"};
  EXPECT_FALSE(TrainBpe({&text, 1}, options).ok());
  options.special_tokens = {"bad \xff"};
  EXPECT_FALSE(TrainBpe({&text, 1}, options).ok());
  EXPECT_FALSE(ParsePreTokenizerStyle("llama").ok());
}

}  // namespace
}  // namespace hs::data
