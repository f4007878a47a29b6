// File: data/corpus_test.cc
//
// Byte-level tokenization round trip, token file writing (atomic, read
// back through TokenFile), and the quickstart corpus's determinism, size,
// alphabet and repetitiveness.
#include "data/corpus.h"

#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "data/test_util.h"
#include "data/text_to_tokens.h"
#include "data/token_file.h"
#include "gtest/gtest.h"

namespace hs::data {
namespace {

TEST(TextToTokensTest, ByteLevelRoundTrip) {
  const std::string text = "Hi\n\xc3\xa9\xff";  // UTF-8 'e' acute, 0xff
  std::vector<uint32_t> ids = TextToTokens(text);
  EXPECT_EQ(ids, (std::vector<uint32_t>{72, 105, 10, 0xc3, 0xa9, 0xff}));
  std::vector<int32_t> ids32(ids.begin(), ids.end());
  EXPECT_EQ(TokensToText(ids32.data(), ids32.size()), text);
  const int32_t bad[2] = {65, 300};
  EXPECT_EQ(TokensToText(bad, 2), "A?");
}

TEST(CorpusTest, WriteTokensFromTextRoundTrip) {
  // Longer than one conversion chunk (65536) to cover the chunk loop.
  std::string text = QuickstartCorpus(70000, 3);
  const std::string path = testing::TestPath("roundtrip.u32");
  ASSERT_TRUE(WriteTokensFromText(text, path).ok());
  auto file = TokenFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->size(), int64_t(text.size()));
  std::vector<int32_t> ids(text.size());
  ASSERT_TRUE((*file)->Read(0, ids.size(), ids.data()).ok());
  EXPECT_EQ(TokensToText(ids.data(), ids.size()), text);
  EXPECT_TRUE((*file)->Validate(kByteVocabSize).ok());
  // Atomic write: no temporary file left beside the result.
  EXPECT_NE(access((path + ".tmp." + std::to_string(getpid())).c_str(), F_OK),
            0);
}

TEST(CorpusTest, WriteErrorsNameThePath) {
  absl::Status s = WriteTokensFromText("", testing::TestPath("empty.u32"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("empty.u32"), std::string::npos) << s;
  const std::string bad = testing::TestPath("no/such/dir/x.u32");
  s = WriteTokensFromText("abc", bad);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no/such/dir"), std::string::npos) << s;
}

TEST(CorpusTest, WriteTokenFileRoundTrip) {
  const std::vector<uint32_t> ids = {0, 1, 70000, 4294967295u};
  const std::string path = testing::TestPath("ids.u32");
  ASSERT_TRUE(WriteTokenFile(path, ids.data(), ids.size()).ok());
  auto file = TokenFile::Open(path);
  ASSERT_TRUE(file.ok());
  ASSERT_EQ((*file)->size(), 4);
  EXPECT_EQ((*file)->data()[2], 70000u);
  EXPECT_EQ((*file)->data()[3], 4294967295u);
}

TEST(CorpusTest, QuickstartCorpusIsDeterministicAndRepetitive) {
  const std::string a = QuickstartCorpus(200000, 1234);
  EXPECT_EQ(a.size(), 200000u);
  EXPECT_EQ(a, QuickstartCorpus(200000, 1234));
  EXPECT_NE(a, QuickstartCorpus(200000, 1235));
  // A prefix of a longer corpus with the same seed.
  EXPECT_EQ(QuickstartCorpus(1000, 1234), a.substr(0, 1000));
  // Plain ASCII text: letters, punctuation, spaces, paragraph breaks.
  std::set<char> alphabet(a.begin(), a.end());
  for (char c : alphabet) {
    EXPECT_TRUE(c == '\n' || (c >= 32 && c < 127)) << int(c);
  }
  EXPECT_LT(alphabet.size(), 70u);
  EXPECT_NE(a.find("\n\n"), std::string::npos);
  // Repetitive: its sentences recur many times (what makes it learnable).
  const std::string sentence = "The optimizer takes a small step";
  int count = 0;
  for (size_t pos = a.find(sentence); pos != std::string::npos;
       pos = a.find(sentence, pos + 1)) {
    ++count;
  }
  EXPECT_GT(count, 20);
  EXPECT_EQ(QuickstartCorpus(0, 1), "");
}

}  // namespace
}  // namespace hs::data
