// File: haiscale/io/safetensors_dump.cc
//
// Prints the tensors of a .safetensors file (or a HF folder with
// model.safetensors[.index.json]): one line per tensor, sorted by name,
// "name DTYPE [d0, d1] v0 v1 ..." with floats as %.9g (after conversion to
// f32) and integers in decimal, then "__metadata__ key=value" lines. With
// --max N only the first N values of each tensor are printed.
//
// Usage:
//   bazel run //haiscale/io:safetensors_dump -- model.safetensors --max 8
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/io/safetensors.h"

namespace {

using hs::io::SafetensorsDType;
using hs::io::TensorInfo;

// Prints one tensor's line; `raw` is its stored bytes.
template <typename Reader>
int PrintTensor(const Reader& reader, const std::string& name, int64_t max) {
  absl::StatusOr<TensorInfo> info = reader.Info(name);
  if (!info.ok()) {
    std::fprintf(stderr, "%s\n", std::string(info.status().message()).c_str());
    return 1;
  }
  std::printf("%s %s [%s]", name.c_str(), SafetensorsDTypeName(info->dtype),
              absl::StrJoin(info->shape, ", ").c_str());
  const int64_t n = info->num_elements();
  const int64_t shown = max >= 0 && max < n ? max : n;
  if (info->dtype == SafetensorsDType::kF32 ||
      info->dtype == SafetensorsDType::kBF16 ||
      info->dtype == SafetensorsDType::kF16) {
    std::vector<float> values(static_cast<size_t>(n));
    absl::Status status = reader.ReadAsF32(name, values.data(), n);
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
      return 1;
    }
    for (int64_t i = 0; i < shown; ++i) std::printf(" %.9g", values[i]);
  } else {
    absl::StatusOr<absl::Span<const uint8_t>> raw = reader.Raw(name);
    if (!raw.ok()) {
      std::fprintf(stderr, "%s\n", std::string(raw.status().message()).c_str());
      return 1;
    }
    for (int64_t i = 0; i < shown; ++i) {
      if (info->dtype == SafetensorsDType::kU8) {
        std::printf(" %u", static_cast<unsigned>((*raw)[i]));
      } else if (info->dtype == SafetensorsDType::kI32) {
        int32_t v;
        std::memcpy(&v, raw->data() + 4 * i, 4);
        std::printf(" %" PRId32, v);
      } else {
        int64_t v;
        std::memcpy(&v, raw->data() + 8 * i, 8);
        std::printf(" %" PRId64, v);
      }
    }
  }
  if (shown < n) std::printf(" ...");
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  int64_t max = -1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--max") == 0 && i + 1 < argc) {
      max = std::atoll(argv[++i]);
    } else if (path.empty()) {
      path = argv[i];
    } else {
      path.clear();
      break;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: safetensors_dump FILE.safetensors|DIR [--max N]\n");
    return 2;
  }
  int rc = 0;
  if (hs::io::IsDirectory(path)) {
    auto folder = hs::io::SafetensorsFolder::Open(path);
    if (!folder.ok()) {
      std::fprintf(stderr, "%s\n", std::string(folder.status().message()).c_str());
      return 1;
    }
    for (const std::string& name : (*folder)->names()) {
      rc |= PrintTensor(**folder, name, max);
    }
    return rc;
  }
  auto file = hs::io::SafetensorsFile::Open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", std::string(file.status().message()).c_str());
    return 1;
  }
  for (const std::string& name : (*file)->names()) {
    rc |= PrintTensor(**file, name, max);
  }
  for (const auto& [key, value] : (*file)->metadata()) {
    std::printf("__metadata__ %s=%s\n", key.c_str(), value.c_str());
  }
  return rc;
}
