// File: data/test_util.h
//
// Test helpers for data/: token files written into the test's temp dir.
//
// Usage:
//   std::string path = WriteTestTokens("ramp.u32", Ramp(1000));
#ifndef DATA_TEST_UTIL_H_
#define DATA_TEST_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hs::data::testing {

// TestPath(name): a path in the test's private temp dir.
inline std::string TestPath(const std::string& name) {
  return ::testing::TempDir() + "/" + name;
}

// WriteRawFile(name, bytes): writes bytes verbatim; returns the path.
inline std::string WriteRawFile(const std::string& name,
                                const std::string& bytes) {
  std::string path = TestPath(name);
  FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr) << path;
  if (f == nullptr) return path;
  EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
  return path;
}

// WriteTestTokens(name, ids): a flat little-endian u32 file; returns the path.
inline std::string WriteTestTokens(const std::string& name,
                                   const std::vector<uint32_t>& ids) {
  return WriteRawFile(
      name, std::string(reinterpret_cast<const char*>(ids.data()),
                        ids.size() * sizeof(uint32_t)));
}

// Ramp(n): ids 0, 1, ..., n-1, so every token names its own offset.
inline std::vector<uint32_t> Ramp(int64_t n) {
  std::vector<uint32_t> ids(size_t(n), 0);
  std::iota(ids.begin(), ids.end(), 0u);
  return ids;
}

}  // namespace hs::data::testing

#endif  // DATA_TEST_UTIL_H_
