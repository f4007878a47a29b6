// File: data/dataset/crc32c_test.cc
#include "data/dataset/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace hs::data {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 B.4 check value and 32 zero bytes.
  EXPECT_EQ(Crc32cExtend(0, "123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(Crc32cExtend(0, zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(Crc32cExtend(0, "", 0), 0u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text.push_back(char(i * 37 + 11));
  const uint32_t whole = Crc32cExtend(0, text.data(), text.size());
  for (size_t cut : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(333), text.size()}) {
    uint32_t c = Crc32cExtend(0, text.data(), cut);
    c = Crc32cExtend(c, text.data() + cut, text.size() - cut);
    EXPECT_EQ(c, whole) << "cut " << cut;
  }
}

}  // namespace
}  // namespace hs::data
