// File: fuzz/safetensors_header_fuzzer.cc
//
// libFuzzer target: a safetensors file image (8-byte header length, JSON
// header, data) through SafetensorsFile::FromBuffer, then every accessor a
// reader uses on the tensors it accepted. Any input must give a Status or a
// consistent file, never a crash, overflow or out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "haiscale/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = hs::io::SafetensorsFile::FromBuffer(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
  if (!file.ok()) return 0;
  for (const std::string& name : (*file)->names()) {
    auto info = (*file)->Info(name);
    if (!info.ok()) continue;
    auto raw = (*file)->Raw(name);
    if (raw.ok() && !raw->empty()) {
      volatile uint8_t sink = (*raw)[0] ^ (*raw)[raw->size() - 1];
      (void)sink;
    }
    const int64_t n = info->num_elements();
    if (n >= 0 && n <= (int64_t(1) << 20)) {
      std::vector<float> values(static_cast<size_t>(n));
      (void)(*file)->ReadAsF32(name, values.data(), n);
      if (n > 1) (void)(*file)->ReadSliceAsF32(name, 1, n - 1, values.data());
    }
  }
  return 0;
}
