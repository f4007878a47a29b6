// File: haiscale/io/atomic_file_test.cc
//
// Tests for haiscale/io/atomic_file.h.
#include "haiscale/io/atomic_file.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hs::io {
namespace {

using ::testing::HasSubstr;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Names of the files in `dir`.
std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

TEST(AtomicFileTest, WritesReadsAndReplaces) {
  const std::string dir = TempDir() + "/replace";
  ASSERT_TRUE(CreateDirectories(dir).ok());
  const std::string path = dir + "/a.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  absl::StatusOr<std::string> text = ReadFileToString(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "first");
  ASSERT_TRUE(WriteFileAtomically(path, std::string("sec\0nd", 6)).ok());
  text = ReadFileToString(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, std::string("sec\0nd", 6));
  // No temporary file is left behind.
  EXPECT_THAT(Listing(dir), testing::ElementsAre("a.txt"));
}

TEST(AtomicFileTest, StreamingWriterAppearsOnlyOnCommit) {
  const std::string dir = TempDir() + "/stream";
  ASSERT_TRUE(CreateDirectories(dir).ok());
  const std::string path = dir + "/big.bin";
  absl::StatusOr<std::unique_ptr<AtomicFileWriter>> writer =
      AtomicFileWriter::Create(path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->temp_path(),
            path + ".tmp." + std::to_string(::getpid()));
  std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*writer)->Append(chunk).ok());
  EXPECT_EQ((*writer)->bytes_written(), 3 << 20);
  EXPECT_FALSE(std::filesystem::exists(path));
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(std::filesystem::file_size(path), 3u << 20);
  EXPECT_FALSE((*writer)->Commit().ok());  // only once
  EXPECT_FALSE((*writer)->Append("more").ok());
}

TEST(AtomicFileTest, AbandonedWriterLeavesOldFileAndNoTemp) {
  const std::string dir = TempDir() + "/abandon";
  ASSERT_TRUE(CreateDirectories(dir).ok());
  const std::string path = dir + "/keep.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  {
    absl::StatusOr<std::unique_ptr<AtomicFileWriter>> writer =
        AtomicFileWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("new but never committed").ok());
  }
  EXPECT_EQ(*ReadFileToString(path), "old");
  EXPECT_THAT(Listing(dir), testing::ElementsAre("keep.txt"));
}

TEST(AtomicFileTest, ErrorsNameThePath) {
  absl::Status status =
      WriteFileAtomically("/nonexistent_dir_hs/x/file.txt", "data");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("/nonexistent_dir_hs/x/file.txt"));
  absl::StatusOr<std::string> text = ReadFileToString("/nonexistent_hs.txt");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(text.status().message()),
              HasSubstr("/nonexistent_hs.txt"));
  text = ReadFileToString(TempDir());
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("is a directory"));
}

TEST(AtomicFileTest, CreateDirectoriesMakesParents) {
  const std::string dir = TempDir() + "/p/q/r";
  ASSERT_TRUE(CreateDirectories(dir).ok());
  EXPECT_TRUE(IsDirectory(dir));
  EXPECT_TRUE(CreateDirectories(dir).ok());  // idempotent
  const std::string file = TempDir() + "/p/file";
  ASSERT_TRUE(WriteFileAtomically(file, "x").ok());
  EXPECT_FALSE(IsDirectory(file));
  absl::Status status = CreateDirectories(file + "/sub");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr(file));
}

TEST(AtomicFileTest, ConfinedRelativePaths) {
  EXPECT_TRUE(IsConfinedRelativePath("rank_00000.safetensors"));
  EXPECT_TRUE(IsConfinedRelativePath("sub/model.safetensors"));
  EXPECT_TRUE(IsConfinedRelativePath("..weights"));
  EXPECT_FALSE(IsConfinedRelativePath(""));
  EXPECT_FALSE(IsConfinedRelativePath("/etc/passwd"));
  EXPECT_FALSE(IsConfinedRelativePath(".."));
  EXPECT_FALSE(IsConfinedRelativePath("../x.safetensors"));
  EXPECT_FALSE(IsConfinedRelativePath("a/../../x"));
  EXPECT_FALSE(IsConfinedRelativePath("a/.."));
  EXPECT_FALSE(IsConfinedRelativePath(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace hs::io
