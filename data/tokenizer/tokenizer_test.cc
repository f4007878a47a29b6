// File: data/tokenizer/tokenizer_test.cc
//
// Tokenizer: round trips over arbitrary bytes, added tokens, normalizers,
// both merge serialisations, ignore_merges, save/load, batch encoding and
// tokenizer.json errors that name the field.
#include "data/tokenizer/tokenizer.h"

#include <random>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer/bpe_trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hs::data {
namespace {

using Json = nlohmann::ordered_json;
using ::testing::HasSubstr;

Tokenizer Train(PreTokenizerStyle style, int vocab = 600) {
  static const std::string corpus = QuickstartCorpus(1 << 16, 7);
  BpeTrainOptions options;
  options.vocab_size = vocab;
  options.pre_tokenizer = style;
  options.special_tokens = {"<|eos|>", "<|User|>"};
  options.threads = 2;
  const std::string_view text = corpus;
  absl::StatusOr<Tokenizer> tok = TrainBpe({&text, 1}, options);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(*tok);
}

const Tokenizer& Gpt2() {
  static const Tokenizer* tok = new Tokenizer(Train(PreTokenizerStyle::kGpt2));
  return *tok;
}
const Tokenizer& DeepSeek() {
  static const Tokenizer* tok = new Tokenizer(Train(PreTokenizerStyle::kDeepSeek));
  return *tok;
}

std::string RoundTrip(const Tokenizer& tok, std::string_view text) {
  absl::StatusOr<std::string> back = tok.Decode(tok.Encode(text));
  EXPECT_TRUE(back.ok()) << back.status();
  return back.ok() ? *back : "";
}

absl::StatusOr<Tokenizer> Edited(const Tokenizer& base, const std::function<void(Json&)>& edit) {
  Json doc = Json::parse(base.ToJson());
  edit(doc);
  return Tokenizer::FromJson(doc.dump(), "test.json");
}

std::string ErrorOf(const Tokenizer& base, const std::function<void(Json&)>& edit) {
  absl::StatusOr<Tokenizer> tok = Edited(base, edit);
  EXPECT_FALSE(tok.ok());
  return tok.ok() ? "" : std::string(tok.status().message());
}

TEST(TokenizerTest, RoundTripsTextOfEveryKind) {
  const std::vector<std::string> texts = {
      "",
      "Hello, world! It's 2026; numbers 1234567 and 3.14159.",
      "emoji 😀🎉👩‍👩‍👧 flags 🇫🇷 and skin tones 👍🏽",
      "中文文本：你好，世界！日本語のテキスト、カタカナ。한국어 텍스트.",
      std::string(5000, ' ') + "x" + std::string(300, '\n') + "\t\t\t  \r\n",
      "mixed\u00a0spaces\u2003and\u3000ideographic",
      "<|eos|>starts, ends<|eos|><|User|>hi<|eos|>",
  };
  for (const Tokenizer* tok : {&Gpt2(), &DeepSeek()}) {
    for (const std::string& text : texts) EXPECT_EQ(RoundTrip(*tok, text), text);
  }
}

TEST(TokenizerTest, RoundTripsRandomAndInvalidUtf8Bytes) {
  std::mt19937 rng(42);
  for (const Tokenizer* tok : {&Gpt2(), &DeepSeek()}) {
    for (int trial = 0; trial < 200; ++trial) {
      std::string text(size_t(rng() % 300), '\0');
      for (char& c : text) c = char(rng() % 256);
      ASSERT_EQ(RoundTrip(*tok, text), text) << "trial " << trial;
    }
    for (const std::string text : {"\xff\xfe", "abc\xc3", "\xe2\x82", "\xed\xa0\x80 surrogate",
                                   "\xc0\xaf overlong", "ok\x80\x80\x80 ok", "\xf4\x90\x80\x80"}) {
      EXPECT_EQ(RoundTrip(*tok, text), text);
    }
  }
}

TEST(TokenizerTest, SpecialTokensAreNeverSplit) {
  const Tokenizer& tok = Gpt2();
  const uint32_t eos = *tok.TokenId("<|eos|>");
  const uint32_t user = *tok.TokenId("<|User|>");
  EXPECT_TRUE(tok.IsSpecial(eos));
  std::vector<uint32_t> ids = tok.Encode("hi<|eos|><|User|>x");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), eos), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), user), 1);
  // As plain text the markers become ordinary tokens.
  EncodeOptions plain;
  plain.match_special_tokens = false;
  ids = tok.Encode("hi<|eos|>", plain);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), eos), 0);
  EXPECT_EQ(*tok.Decode(ids), "hi<|eos|>");
  DecodeOptions skip;
  skip.skip_special_tokens = true;
  EXPECT_EQ(*tok.Decode(tok.Encode("a<|eos|>b"), skip), "ab");
}

TEST(TokenizerTest, LookupsAndVocabSize) {
  const Tokenizer& tok = Gpt2();
  EXPECT_EQ(tok.vocab_size(), 600);
  EXPECT_EQ(*tok.TokenId("<|eos|>"), 0u);
  EXPECT_EQ(*tok.IdToToken(0), "<|eos|>");
  EXPECT_TRUE(tok.TokenId("Ġ").has_value());  // the space byte
  EXPECT_EQ(tok.TokenBytes(*tok.TokenId("Ġ")), " ");
  EXPECT_FALSE(tok.TokenId("no such token").has_value());
  EXPECT_FALSE(tok.IdToToken(600).has_value());
  absl::StatusOr<std::string> bad = tok.Decode(std::vector<uint32_t>{1, 2, 600});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("token id 600 at position 2"));
}

TEST(TokenizerTest, SaveAndLoadKeepTheEncoding) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/tok.json";
  ASSERT_TRUE(DeepSeek().SaveFile(path).ok());
  absl::StatusOr<Tokenizer> loaded = Tokenizer::LoadFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string text = "Some text 12345, 你好 <|eos|> and more.";
  EXPECT_EQ(loaded->Encode(text), DeepSeek().Encode(text));
  EXPECT_EQ(loaded->ToJson(), DeepSeek().ToJson());
}

TEST(TokenizerTest, LegacyMergeStringsEncodeTheSame) {
  absl::StatusOr<Tokenizer> legacy = Edited(Gpt2(), [](Json& doc) {
    for (Json& m : doc["model"]["merges"]) {
      m = m[0].get<std::string>() + " " + m[1].get<std::string>();
    }
  });
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  const std::string text = "The quick brown fox jumps over the lazy dog, again and again.";
  EXPECT_EQ(legacy->Encode(text), Gpt2().Encode(text));
}

TEST(TokenizerTest, IgnoreMergesTakesWholeVocabWords) {
  // "Ġzq" is in the vocab but no merge builds it: only ignore_merges finds it.
  auto add_word = [](bool ignore) {
    return [ignore](Json& doc) {
      doc["model"]["vocab"]["Ġzq"] = 600;
      doc["model"]["ignore_merges"] = ignore;
    };
  };
  absl::StatusOr<Tokenizer> with = Edited(Gpt2(), add_word(true));
  absl::StatusOr<Tokenizer> without = Edited(Gpt2(), add_word(false));
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_EQ(with->Encode(" zq"), std::vector<uint32_t>{600});
  EXPECT_GT(without->Encode(" zq").size(), 1u);
}

TEST(TokenizerTest, NfcAndNfkcNormalizers) {
  absl::StatusOr<Tokenizer> nfc = Edited(Gpt2(), [](Json& d) { d["normalizer"] = {{"type", "NFC"}}; });
  absl::StatusOr<Tokenizer> nfkc = Edited(Gpt2(), [](Json& d) {
    d["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFKC"}}}}};
  });
  ASSERT_TRUE(nfc.ok() && nfkc.ok());
  EXPECT_EQ(nfc->Encode("cafe\u0301"), nfc->Encode("caf\u00e9"));
  EXPECT_NE(Gpt2().Encode("cafe\u0301"), Gpt2().Encode("caf\u00e9"));
  EXPECT_EQ(nfkc->Encode("\ufb01ne"), nfkc->Encode("fine"));
  EXPECT_EQ(*nfc->Decode(nfc->Encode("bad \xff utf8 e\u0301")), "bad \xff utf8 \u00e9");
}

TEST(TokenizerTest, EncodeBatchMatchesEncode) {
  std::vector<std::string> docs;
  for (int i = 0; i < 100; ++i) docs.push_back("document " + std::to_string(i * 7919) + " text");
  const std::vector<std::string_view> views(docs.begin(), docs.end());
  for (int threads : {1, 3, 0}) {
    std::vector<std::vector<uint32_t>> batch = DeepSeek().EncodeBatch(views, threads);
    ASSERT_EQ(batch.size(), docs.size());
    for (size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(batch[i], DeepSeek().Encode(docs[i]));
  }
}

TEST(TokenizerTest, ParseErrorsNameTheField) {
  const Tokenizer& base = Gpt2();
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["model"]["byte_fallback"] = true; }),
              HasSubstr("model.byte_fallback"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["model"]["type"] = "WordPiece"; }),
              HasSubstr("model.type"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["model"]["dropout"] = 0.1; }),
              HasSubstr("model.dropout"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["model"]["merges"][3] = "nospace"; }),
              HasSubstr("model.merges[3]"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["model"]["merges"][0] = {"Ġ", "zzzz"}; }),
              HasSubstr("model.merges[0]: \"zzzz\" is not in the vocab"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["model"]["vocab"]["Ġ"] = -1; }),
              HasSubstr("model.vocab[\"Ġ\"]"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["model"]["vocab"]["zz"] = 4000000000u; }),
              HasSubstr("model.vocab: the largest id is 4000000000"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["added_tokens"][0]["id"] = 3000000000u; }),
              HasSubstr("added_tokens[0].id"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["normalizer"] = {{"type", "Lowercase"}}; }),
              HasSubstr("normalizer.type: unsupported normalizer type \"Lowercase\""));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["pre_tokenizer"] = {{"type", "Whitespace"}}; }),
              HasSubstr("pre_tokenizer.type"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["pre_tokenizer"] = nullptr; }),
              HasSubstr("pre_tokenizer"));
  EXPECT_THAT(ErrorOf(DeepSeek(), [](Json& d) {
                d["pre_tokenizer"]["pretokenizers"][1]["behavior"] = "Sideways";
              }),
              HasSubstr("pre_tokenizer.pretokenizers[1].behavior"));
  EXPECT_THAT(ErrorOf(DeepSeek(), [](Json& d) {
                d["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(("}};
              }),
              HasSubstr("pre_tokenizer.pretokenizers[0].pattern.Regex"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["decoder"] = {{"type", "WordPiece"}}; }),
              HasSubstr("decoder.type"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["added_tokens"][1]["content"] = "<|eos|>"; }),
              HasSubstr("added_tokens[1].content"));
  EXPECT_THAT(ErrorOf(base, [](Json& d) { d["added_tokens"][0]["special"] = "yes"; }),
              HasSubstr("added_tokens[0].special"));
  absl::StatusOr<Tokenizer> not_json = Tokenizer::FromJson("{\"model\": ", "broken.json");
  ASSERT_FALSE(not_json.ok());
  EXPECT_THAT(std::string(not_json.status().message()), HasSubstr("broken.json: not valid JSON"));
  absl::StatusOr<Tokenizer> missing = Tokenizer::LoadFile("/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/tokenizer.json"));
}

}  // namespace
}  // namespace hs::data
