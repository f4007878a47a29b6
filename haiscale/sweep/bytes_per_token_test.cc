// File: haiscale/sweep/bytes_per_token_test.cc
#include "haiscale/sweep/bytes_per_token.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer/bpe_trainer.h"
#include "gtest/gtest.h"

namespace hs::sweep {
namespace {

std::string TmpPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

void WriteIds(const std::string& path, const std::vector<uint32_t>& ids) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(ids.data()), std::streamsize(ids.size() * 4));
}

TEST(BytesPerToken, TextBytesOverTokensSpecialsCountAsTokensOnly) {
  const std::string text =
      "the quick brown fox jumps over the lazy dog; the lazy dog sleeps. "
      "the quick brown fox jumps again and again over the lazy dog.";
  std::vector<std::string_view> texts = {text, text};
  data::BpeTrainOptions options;
  options.vocab_size = 300;
  options.special_tokens = {"<|eos|>"};
  options.threads = 1;
  auto tok = data::TrainBpe(texts, options);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::string tok_path = TmpPath("tok.json");
  ASSERT_TRUE(tok->SaveFile(tok_path).ok());

  std::vector<uint32_t> ids = tok->Encode(text);
  ASSERT_LT(ids.size(), text.size());  // merges happened: the ratio is not 1
  ids.push_back(*tok->TokenId("<|eos|>"));
  const std::string ids_path = TmpPath("ids.bin");
  WriteIds(ids_path, ids);

  auto bpt = MeasureBytesPerToken(tok_path, ids_path);
  ASSERT_TRUE(bpt.ok()) << bpt.status();
  EXPECT_DOUBLE_EQ(*bpt, double(text.size()) / double(ids.size()));
}

TEST(BytesPerToken, ErrorsNameTheFile) {
  std::vector<std::string_view> texts = {"aaaa bbbb aaaa bbbb"};
  data::BpeTrainOptions options;
  options.vocab_size = 260;
  options.threads = 1;
  auto tok = data::TrainBpe(texts, options);
  ASSERT_TRUE(tok.ok());
  const std::string tok_path = TmpPath("tok2.json");
  ASSERT_TRUE(tok->SaveFile(tok_path).ok());
  const std::string ids_path = TmpPath("bad_ids.bin");
  WriteIds(ids_path, {1, 2, 99999});
  auto bpt = MeasureBytesPerToken(tok_path, ids_path);
  ASSERT_FALSE(bpt.ok());
  EXPECT_NE(bpt.status().message().find("bad_ids.bin: token 2 is id 99999"), std::string::npos)
      << bpt.status();
  auto missing = MeasureBytesPerToken(TmpPath("missing.json"), ids_path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.json"), std::string::npos) << missing.status();
}

}  // namespace
}  // namespace hs::sweep
