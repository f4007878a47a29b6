// File: data/token_file_test.cc
//
// TokenFile: reads, and errors that name the file (missing, empty, size
// not a multiple of 4, out-of-range reads, out-of-vocab ids with offset).
#include "data/token_file.h"

#include <omp.h>

#include "data/test_util.h"
#include "gtest/gtest.h"

namespace hs::data {
namespace {

using testing::Ramp;
using testing::WriteRawFile;
using testing::WriteTestTokens;

TEST(TokenFileTest, OpenAndRead) {
  std::string path = WriteTestTokens("ramp.u32", Ramp(100));
  auto file = TokenFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->size(), 100);
  EXPECT_EQ((*file)->path(), path);
  int32_t buf[5];
  ASSERT_TRUE((*file)->Read(95, 5, buf).ok());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(buf[i], 95 + i);
  auto [lo, hi] = (*file)->MinMax();
  EXPECT_EQ(lo, 0u);
  EXPECT_EQ(hi, 99u);
}

TEST(TokenFileTest, LittleEndianOnDisk) {
  // 0x04030201 stored as bytes 01 02 03 04.
  std::string path = WriteRawFile("le.u32", std::string("\x01\x02\x03\x04", 4));
  auto file = TokenFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  int32_t id = 0;
  ASSERT_TRUE((*file)->Read(0, 1, &id).ok());
  EXPECT_EQ(id, 0x04030201);
}

TEST(TokenFileTest, ReadPastEndNamesFile) {
  std::string path = WriteTestTokens("short.u32", Ramp(10));
  auto file = TokenFile::Open(path);
  ASSERT_TRUE(file.ok());
  int32_t buf[4];
  absl::Status s = (*file)->Read(8, 4, buf);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
  EXPECT_NE(s.message().find("[8, 12)"), std::string::npos) << s;
}

TEST(TokenFileTest, MissingEmptyAndBadSize) {
  std::string missing = testing::TestPath("does_not_exist.u32");
  auto a = TokenFile::Open(missing);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(a.status().message().find(missing), std::string::npos);

  std::string empty = WriteRawFile("empty.u32", "");
  auto b = TokenFile::Open(empty);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find(empty), std::string::npos);
  EXPECT_NE(b.status().message().find("empty"), std::string::npos);

  std::string odd = WriteRawFile("odd.u32", "abcdefg");
  auto c = TokenFile::Open(odd);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(odd), std::string::npos);
  EXPECT_NE(c.status().message().find("size 7 bytes is not a multiple of 4"),
            std::string::npos)
      << c.status();
}

TEST(TokenFileTest, ValidateReportsFirstBadIdAndOffset) {
  // Large enough for several scan chunks; bad ids in two chunks.
  std::vector<uint32_t> ids(300000, 7);
  ids[200001] = 70000;
  ids[250000] = 99999;
  std::string path = WriteTestTokens("bad_vocab.u32", ids);
  auto file = TokenFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE((*file)->Validate(100000).ok());
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    absl::Status s = (*file)->Validate(50000);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(path), std::string::npos) << s;
    EXPECT_NE(s.message().find("token id 70000 at offset 200001"),
              std::string::npos)
        << s;
    EXPECT_NE(s.message().find("vocab_size 50000"), std::string::npos) << s;
  }
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_FALSE((*file)->Validate(0).ok());
}

}  // namespace
}  // namespace hs::data
