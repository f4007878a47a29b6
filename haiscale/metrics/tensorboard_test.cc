#include "haiscale/metrics/tensorboard.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "haiscale/metrics/tb_event.pb.h"

namespace hs::metrics {
namespace {

TEST(Crc32cTest, KnownAnswers) {
  // RFC 3720 B.4 test vector: 32 bytes of zeros -> 0x8a9136aa, and the
  // classic "123456789" -> 0xe3069283.
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(Crc32c("123456789", 9), 0xe3069283u);
}

TEST(TensorBoardTest, WritesReadableScalarEvents) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/tb";
  std::filesystem::remove_all(dir);
  std::string path;
  {
    auto w = TensorBoardWriter::Open(dir);
    ASSERT_TRUE(w.ok()) << w.status();
    path = (*w)->path();
    ASSERT_TRUE((*w)->AddScalars(1, {{"train/loss", 2.5}, {"train/lr", 1e-3}}).ok());
    ASSERT_TRUE((*w)->AddScalars(2, {{"train/loss", 2.25}}).ok());
  }
  EXPECT_NE(path.find("events.out.tfevents."), std::string::npos);
  auto records = ReadRecords(path);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  Event first, second;
  ASSERT_TRUE(first.ParseFromString((*records)[0]));
  EXPECT_EQ(first.file_version(), "brain.Event:2");
  ASSERT_TRUE(second.ParseFromString((*records)[1]));
  EXPECT_EQ(second.step(), 1);
  ASSERT_EQ(second.summary().value_size(), 2);
  EXPECT_EQ(second.summary().value(0).tag(), "train/loss");
  EXPECT_FLOAT_EQ(second.summary().value(0).simple_value(), 2.5f);
  // A flipped byte is caught by the CRC.
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(30);
  f.put('\x7f');
  f.close();
  EXPECT_FALSE(ReadRecords(path).ok());
}

}  // namespace
}  // namespace hs::metrics
