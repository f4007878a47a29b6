// File: haiscale/checkpoint/safetensors_stream.h
//
// Writing a .safetensors file tensor by tensor, with the CRC32 of the whole
// file computed as it is written. The header (names, dtypes, shapes,
// offsets) is known up front, so each tensor's bytes can be produced on
// demand (read from an mmap'ed source, converted to bf16, copied from a
// snapshot) and the whole model never has to be in memory at once. The
// file appears atomically (io::AtomicFileWriter: temp, fsync, rename, fsync
// of the directory). The layout is the one io::SafetensorsWriter writes:
// header keys sorted, data in name order, header padded to 8 bytes.
//
// Usage:
//   std::vector<StreamTensor> ts;
//   ts.push_back({"w", io::SafetensorsDType::kF32, {2, 3},
//                 [&](const EmitFn& emit) { return emit(BytesOf(w, 6)); }});
//   HS_ASSIGN_OR_RETURN(WrittenFile f, WriteSafetensorsStreaming(path, ts, {}));
//   // f.bytes, f.crc32
#ifndef HAISCALE_CHECKPOINT_SAFETENSORS_STREAM_H_
#define HAISCALE_CHECKPOINT_SAFETENSORS_STREAM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "haiscale/io/safetensors.h"

namespace hs::checkpoint {

// EmitFn: appends bytes to the file being written.
using EmitFn = std::function<absl::Status(absl::string_view bytes)>;

// StreamTensor: one tensor of a streamed file. `fill` must emit exactly
// prod(shape) * size(dtype) bytes (in one or several calls).
struct StreamTensor {
  std::string name;
  io::SafetensorsDType dtype = io::SafetensorsDType::kF32;
  std::vector<int64_t> shape;
  std::function<absl::Status(const EmitFn& emit)> fill;
};

// WrittenFile: what was written.
struct WrittenFile {
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

// WriteSafetensorsStreaming(path, tensors, metadata)
//
// Writes `tensors` (any order given; stored in name order) with
// `metadata` as "__metadata__" atomically to `path`. A fill that emits the
// wrong number of bytes, or fails, leaves `path` untouched.
absl::StatusOr<WrittenFile> WriteSafetensorsStreaming(
    const std::string& path, std::vector<StreamTensor> tensors,
    const std::map<std::string, std::string>& metadata);

// SafetensorsNumBytes(tensors, metadata): the size the file would have.
int64_t SafetensorsNumBytes(const std::vector<StreamTensor>& tensors,
                            const std::map<std::string, std::string>& metadata);

// FileCrc32(path, size)
//
// zlib crc32 of the whole file at `path`, reading it in chunks; stores its
// size in *size when given. Errors name the path.
absl::StatusOr<uint32_t> FileCrc32(const std::string& path, int64_t* size = nullptr);

// Crc32Update(crc, bytes): zlib crc32 continued over `bytes`.
uint32_t Crc32Update(uint32_t crc, absl::string_view bytes);

// F32Bytes(data, n): a view of n floats as bytes.
inline absl::string_view F32Bytes(const float* data, int64_t n) {
  return absl::string_view(reinterpret_cast<const char*>(data), size_t(n) * sizeof(float));
}

}  // namespace hs::checkpoint

#endif  // HAISCALE_CHECKPOINT_SAFETENSORS_STREAM_H_
