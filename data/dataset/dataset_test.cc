// File: data/dataset/dataset_test.cc — prepared-dataset writer and reader:
// round trips across shards and token sizes, and the errors for truncated,
// corrupted, incomplete and foreign files.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/dataset/reader.h"
#include "data/dataset/writer.h"
#include "data/test_util.h"
#include "gtest/gtest.h"

namespace hs::data::dataset {
namespace {

using ::hs::data::testing::TestPath;

// Docs(n): n documents, document d being d % 7 + 1 ids d*100 + i.
std::vector<std::vector<uint32_t>> Docs(int n, uint32_t scale = 1) {
  std::vector<std::vector<uint32_t>> docs(n);
  for (int d = 0; d < n; ++d) {
    for (int i = 0; i < d % 7 + 1; ++i) docs[d].push_back((d * 100 + i) * scale);
  }
  return docs;
}

std::string Write(const std::string& name, const std::vector<std::vector<uint32_t>>& docs,
                  uint64_t vocab, uint32_t eos, int64_t shard_bytes) {
  const std::string dir = TestPath(name);
  auto w = DatasetWriter::Create(dir, vocab, eos, shard_bytes);
  EXPECT_TRUE(w.ok()) << w.status();
  for (const auto& d : docs) EXPECT_TRUE((*w)->AddDocument(d).ok());
  EXPECT_TRUE((*w)->Finish().ok());
  return dir;
}

void Truncate(const std::string& path, int64_t by) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
  ASSERT_EQ(::truncate(path.c_str(), st.st_size - by), 0) << path;
}

void FlipByte(const std::string& path, int64_t offset) {
  FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, offset, SEEK_SET);
  int c = std::fgetc(f);
  std::fseek(f, offset, SEEK_SET);
  std::fputc(c ^ 0x5a, f);
  std::fclose(f);
}

void ExpectRoundTrip(const std::string& dir, const std::vector<std::vector<uint32_t>>& docs,
                     uint32_t eos, uint32_t token_bytes) {
  auto ds = PreparedDataset::Open(dir);
  ASSERT_TRUE(ds.ok()) << ds.status();
  std::vector<int32_t> want;
  for (const auto& d : docs) {
    for (uint32_t id : d) want.push_back(int32_t(id));
    want.push_back(int32_t(eos));
  }
  EXPECT_EQ((*ds)->header().token_bytes, token_bytes);
  ASSERT_EQ((*ds)->num_tokens(), int64_t(want.size()));
  ASSERT_EQ((*ds)->num_docs(), int64_t(docs.size()));
  std::vector<int32_t> got(want.size());
  ASSERT_TRUE((*ds)->Read(0, got.size(), got.data()).ok());
  EXPECT_EQ(got, want);
  // Every sub-range crossing shard boundaries.
  for (int64_t off = 0; off < int64_t(want.size()); off += 5) {
    const int64_t n = std::min<int64_t>(13, want.size() - off);
    std::vector<int32_t> part(n);
    ASSERT_TRUE((*ds)->Read(off, n, part.data()).ok());
    EXPECT_EQ(part, std::vector<int32_t>(want.begin() + off, want.begin() + off + n));
    EXPECT_EQ(int64_t((*ds)->Token(off)), int64_t(want[off]));
  }
  int64_t start = 0;
  for (size_t d = 0; d < docs.size(); ++d) {
    EXPECT_EQ((*ds)->DocStart(d), start);
    EXPECT_EQ((*ds)->DocumentAt(start), int64_t(d));
    start += docs[d].size() + 1;
    EXPECT_EQ((*ds)->DocumentAt(start - 1), int64_t(d));
  }
  EXPECT_EQ((*ds)->DocStart(docs.size()), start);
  std::vector<int32_t> past(2);
  EXPECT_EQ((*ds)->Read(start - 1, 2, past.data()).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE((*ds)->VerifyChecksums().ok());
}

TEST(Dataset, RoundTripU16AcrossShards) {
  const auto docs = Docs(40);
  const std::string dir = Write("u16", docs, 5000, 4999, 2 * 17);  // 17 tokens per shard
  ExpectRoundTrip(dir, docs, 4999, 2);
  auto ds = PreparedDataset::Open(dir);
  ASSERT_TRUE(ds.ok());
  EXPECT_GT((*ds)->num_shards(), 5);
}

TEST(Dataset, RoundTripU32WhenVocabExceeds16Bits) {
  const auto docs = Docs(30, 30);  // ids up to ~87000
  const std::string dir = Write("u32", docs, 102400, 100000, 4 * 10);
  ExpectRoundTrip(dir, docs, 100000, 4);
}

TEST(Dataset, WriterRejectsOutOfVocabId) {
  auto w = DatasetWriter::Create(TestPath("oov"), 100, 99, 1 << 20);
  ASSERT_TRUE(w.ok());
  const std::vector<uint32_t> ids = {1, 2, 100};
  absl::Status s = (*w)->AddDocument(ids);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("token 2: id 100"), std::string::npos) << s;
}

TEST(Dataset, MissingIndexIsAnIncompleteDataset) {
  const std::string dir = Write("noindex", Docs(5), 5000, 0, 1 << 20);
  ASSERT_EQ(std::remove((dir + "/index.hds").c_str()), 0);
  EXPECT_FALSE(PreparedDataset::IsPreparedDataset(dir));
  auto ds = PreparedDataset::Open(dir);
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ds.status().message().find("interrupted"), std::string::npos) << ds.status();
}

TEST(Dataset, TruncatedShardNamesFileAndSize) {
  const std::string dir = Write("trunc", Docs(40), 5000, 0, 2 * 50);
  Truncate(dir + "/shard-00001.bin", 3);
  auto ds = PreparedDataset::Open(dir);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(ds.status().message().find("shard-00001.bin"), std::string::npos) << ds.status();
  EXPECT_NE(ds.status().message().find("truncated"), std::string::npos) << ds.status();
}

TEST(Dataset, TruncatedIndexAndMissingShard) {
  const std::string dir = Write("trunc_index", Docs(40), 5000, 0, 2 * 50);
  const std::string copy = Write("missing_shard", Docs(40), 5000, 0, 2 * 50);
  Truncate(dir + "/index.hds", 8);
  auto ds = PreparedDataset::Open(dir);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("index.hds"), std::string::npos) << ds.status();
  EXPECT_NE(ds.status().message().find("truncated"), std::string::npos) << ds.status();
  ASSERT_EQ(std::remove((copy + "/shard-00002.bin").c_str()), 0);
  ds = PreparedDataset::Open(copy);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("shard-00002.bin"), std::string::npos) << ds.status();
}

TEST(Dataset, BadMagicAndVersionNameTheOffset) {
  const std::string dir = Write("magic", Docs(10), 5000, 0, 1 << 20);
  FlipByte(dir + "/shard-00000.bin", 2);
  auto ds = PreparedDataset::Open(dir);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("shard-00000.bin: byte 0: bad magic"), std::string::npos)
      << ds.status();
  const std::string dir2 = Write("version", Docs(10), 5000, 0, 1 << 20);
  FlipByte(dir2 + "/index.hds", 8);
  ds = PreparedDataset::Open(dir2);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("index.hds: byte 8: format version"), std::string::npos)
      << ds.status();
}

TEST(Dataset, CorruptedPayloadFailsVerifyOnly) {
  const std::string dir = Write("crc", Docs(40), 5000, 0, 2 * 50);
  FlipByte(dir + "/shard-00001.bin", 32 + 7);
  auto ds = PreparedDataset::Open(dir);
  ASSERT_TRUE(ds.ok()) << ds.status();  // sizes are intact: CRCs are checked on demand
  absl::Status s = (*ds)->VerifyChecksums();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("shard-00001.bin"), std::string::npos) << s;
  EXPECT_NE(s.message().find("CRC-32C"), std::string::npos) << s;
}

TEST(Dataset, VerifyFindsADocumentWithoutEos) {
  const std::string dir = Write("eos", Docs(40), 5000, 0, 2 * 50);
  FlipByte(dir + "/shard-00000.bin", 32 + 2 * 1);  // document 0 is one id, then its EOS
  auto ds = PreparedDataset::Open(dir);
  ASSERT_TRUE(ds.ok()) << ds.status();
  absl::Status s = (*ds)->VerifyChecksums();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("shard-00000.bin: byte 34: document 0 ends with token"),
            std::string::npos)
      << s;
}

TEST(Dataset, CorruptedIndexFailsVerify) {
  const std::string dir = Write("crc_index", Docs(40), 5000, 0, 2 * 50);
  FlipByte(dir + "/index.hds", 64 + 3 * 16 + 8 * 5 + 1);  // inside document offset 5
  auto ds = PreparedDataset::Open(dir);
  ASSERT_TRUE(ds.ok()) << ds.status();
  absl::Status s = (*ds)->VerifyChecksums();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("index.hds"), std::string::npos) << s;
}

}  // namespace
}  // namespace hs::data::dataset
