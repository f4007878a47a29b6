// DPO reference file tests: a written reference reads back bit for bit;
// no file reads as none; a corrupted or truncated one is an error naming
// it; the weights' identity follows the files' names and bytes (not their
// folder) and needs config.json and safetensors; the rows' checksum
// follows every array.
#include "data/post/reference_file.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "haiscale/io/atomic_file.h"

namespace hs::data::post {
namespace {

std::string Dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void Write(const std::string& path, const std::string& bytes) {
  ASSERT_TRUE(io::WriteFileAtomically(path, bytes).ok()) << path;
}

TEST(ReferenceFileTest, RoundTripAbsentAndCorrupted) {
  const std::string dir = Dir("ref_roundtrip");
  auto none = ReadRowsReference(dir);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  RowsReference ref;
  ref.logps = {-1.25, -3.0000000001, -17.5, 0.0};
  ref.rows_crc = 0xdeadbeef;
  ref.weights = {0x12345678, 987654321};
  ref.weights_dir = "/some/weights";
  ASSERT_TRUE(WriteRowsReference(dir, ref).ok());
  auto back = ReadRowsReference(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->logps, ref.logps);
  EXPECT_EQ((*back)->rows_crc, ref.rows_crc);
  EXPECT_TRUE((*back)->weights == ref.weights);
  EXPECT_EQ((*back)->weights_dir, ref.weights_dir);
  // One flipped byte, then a truncated file: errors naming the file.
  const std::string file = dir + "/" + kReferenceFileName;
  std::string bytes = *io::ReadFileToString(file);
  bytes[bytes.size() / 2] ^= 1;
  Write(file, bytes);
  auto bad = ReadRowsReference(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(file + ": checksum mismatch"), std::string::npos)
      << bad.status();
  Write(file, bytes.substr(0, 20));
  bad = ReadRowsReference(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(file), std::string::npos) << bad.status();
}

TEST(ReferenceFileTest, WeightsIdentityFollowsTheFiles) {
  const std::string a = Dir("weights_a"), b = Dir("weights_b");
  for (const std::string& d : {a, b}) {
    Write(d + "/config.json", "{\"vocab_size\": 8}");
    Write(d + "/model.safetensors", std::string(3000, 'x'));
    Write(d + "/tokenizer.json", d);  // not part of the weights
  }
  auto ia = IdentifyWeights(a), ib = IdentifyWeights(b);
  ASSERT_TRUE(ia.ok()) << ia.status();
  ASSERT_TRUE(ib.ok()) << ib.status();
  EXPECT_TRUE(*ia == *ib);
  EXPECT_EQ(ia->bytes, 3000u + 17u);
  // One changed weight byte, or a changed config: another identity.
  Write(b + "/model.safetensors", std::string(2999, 'x') + "y");
  EXPECT_FALSE(*IdentifyWeights(b) == *ia);
  Write(b + "/model.safetensors", std::string(3000, 'x'));
  EXPECT_TRUE(*IdentifyWeights(b) == *ia);
  Write(b + "/config.json", "{\"vocab_size\": 9}");
  EXPECT_FALSE(*IdentifyWeights(b) == *ia);
  // Not a weights folder.
  std::filesystem::remove(a + "/config.json");
  auto bad = IdentifyWeights(a);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("is not a Hugging Face weights folder"), std::string::npos)
      << bad.status();
  EXPECT_FALSE(IdentifyWeights(a + "/missing").ok());
}

TEST(ReferenceFileTest, RowsChecksumCoversEveryArray) {
  PostRows rows;
  rows.kind = RowsKind::kDpo;
  rows.seq_len = 3;
  const int32_t tok[3] = {1, 2, 3}, tgt[3] = {-1, 3, 4}, pos[3] = {0, 1, 2};
  rows.AddRow(tok, tgt, pos);
  rows.AddRow(tok, tgt, pos);
  const uint32_t crc = RowsCrc(rows);
  for (std::vector<int32_t>* v : {&rows.tokens, &rows.targets, &rows.positions}) {
    (*v)[4] += 1;
    EXPECT_NE(RowsCrc(rows), crc);
    (*v)[4] -= 1;
  }
  EXPECT_EQ(RowsCrc(rows), crc);
}

}  // namespace
}  // namespace hs::data::post
