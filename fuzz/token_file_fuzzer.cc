// File: fuzz/token_file_fuzzer.cc
//
// libFuzzer target: a flat token file (little-endian uint32 ids) through
// TokenFile::Open, Validate, MinMax and Read — what `hai train` and
// `hai eval` do with --data. The input is written to a file first (Open
// maps a path); the first byte picks the vocabulary size to validate
// against.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "data/token_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir ? dir : "/tmp") + "/hs_token_fuzz_" + std::to_string(getpid()) + ".bin";
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  auto file = hs::data::TokenFile::Open(path);
  if (file.ok()) {
    const int64_t vocab = int64_t(data[0]) * 1000 + 1;
    (void)(*file)->Validate(vocab);
    if ((*file)->data()) (void)(*file)->MinMax();
    std::vector<int32_t> out(16);
    const int64_t n = std::min<int64_t>(16, (*file)->size());
    (void)(*file)->Read((*file)->size() - n, n, out.data());
    (void)(*file)->Read((*file)->size() - n + 1, n, out.data());  // one past the end: an error
  }
  std::remove(path.c_str());
  return 0;
}
