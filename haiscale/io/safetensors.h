// File: haiscale/io/safetensors.h
//
// Reading and writing the safetensors format (Hugging Face,
// https://huggingface.co/docs/safetensors), in which HaiScale saves and loads
// model weights with the HF DeepSeek-V2 tensor names.
//
// Layout of a .safetensors file:
//   [8 bytes]  N, little-endian uint64: length of the JSON header
//   [N bytes]  JSON object: {"<name>": {"dtype": "F32", "shape": [r, c],
//              "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
//              padded with spaces so the data region starts 8-byte aligned
//   [rest]     data region; offsets are relative to its start, tensors are
//              contiguous and together cover it exactly, row-major, little
//              endian
//
// SafetensorsFile mmaps a file and validates the whole header at Open (sizes,
// dtypes, offsets in range, non-overlapping, covering the data region);
// errors name the file and the tensor. SafetensorsWriter writes one
// atomically (temp + fsync + rename). SafetensorsFolder reads a sharded HF
// folder through model.safetensors.index.json.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open("model.safetensors"));
//   HS_ASSIGN_OR_RETURN(TensorInfo info, file->Info("model.norm.weight"));
//   std::vector<float> w(info.num_elements());
//   HS_RETURN_IF_ERROR(file->ReadAsF32("model.norm.weight", w.data(), w.size()));
//
//   SafetensorsWriter writer;
//   HS_RETURN_IF_ERROR(writer.AddF32("lm_head.weight", {vocab, hidden},
//                                    logits_w, SafetensorsDType::kBF16));
//   HS_RETURN_IF_ERROR(writer.Write("out/model.safetensors", {{"format", "pt"}}));
#ifndef HAISCALE_IO_SAFETENSORS_H_
#define HAISCALE_IO_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace hs::io {

// Element types HaiScale reads and writes in safetensors files.
enum class SafetensorsDType : uint8_t { kF32, kBF16, kF16, kI32, kI64, kU8 };

// SafetensorsDTypeName(dtype): the format's spelling: "F32", "BF16", "F16",
// "I32", "I64", "U8".
const char* SafetensorsDTypeName(SafetensorsDType dtype);

// SafetensorsDTypeSize(dtype): bytes per element.
int64_t SafetensorsDTypeSize(SafetensorsDType dtype);

// ParseSafetensorsDType(name): inverse of SafetensorsDTypeName.
absl::StatusOr<SafetensorsDType> ParseSafetensorsDType(absl::string_view name);

// F16ToF32(bits) / F32ToF16(x)
//
// IEEE binary16 <-> binary32. F16ToF32 is exact (subnormals, inf, NaN kept);
// F32ToF16 rounds to nearest even and overflows to inf.
float F16ToF32(uint16_t bits);
uint16_t F32ToF16(float x);

// One tensor's header entry.
struct TensorInfo {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::kF32;
  std::vector<int64_t> shape;
  // Byte range [begin, end) within the data region.
  int64_t begin = 0;
  int64_t end = 0;

  // TensorInfo::num_elements(): product of shape (1 for a scalar []).
  int64_t num_elements() const;
  // TensorInfo::num_bytes(): end - begin.
  int64_t num_bytes() const { return end - begin; }
};

// SafetensorsFile
//
// A validated, memory-mapped .safetensors file. Thread-safe for concurrent
// reads.
class SafetensorsFile {
 public:
  // SafetensorsFile::Open(path)
  //
  // mmaps `path` and validates its header. Errors (InvalidArgument/DataLoss/
  // NotFound) name the path and, where one is at fault, the tensor.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path);

  // SafetensorsFile::FromBuffer(bytes, source_name)
  //
  // Validates and reads an in-memory file image (copied); errors name
  // `source_name`. For tests and for bytes that never touch disk.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> FromBuffer(
      absl::string_view bytes, const std::string& source_name);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // SafetensorsFile::path(): the path (or source name) it was opened from.
  const std::string& path() const { return path_; }

  // SafetensorsFile::names(): tensor names, sorted.
  const std::vector<std::string>& names() const { return names_; }

  // SafetensorsFile::Contains(name): whether the file holds `name`.
  bool Contains(const std::string& name) const;

  // SafetensorsFile::Info(name): dtype, shape and byte range of `name`;
  // NotFound naming the file and tensor when absent.
  absl::StatusOr<TensorInfo> Info(const std::string& name) const;

  // SafetensorsFile::Raw(name)
  //
  // The tensor's bytes, as stored (little endian, row-major), valid while
  // this object lives. The view may be unaligned for its dtype.
  absl::StatusOr<absl::Span<const uint8_t>> Raw(const std::string& name) const;

  // SafetensorsFile::ReadAsF32(name, dst, n)
  //
  // Copies the tensor into `dst` as f32, converting BF16 and F16 exactly.
  // `n` must equal its element count. Integer dtypes are an error.
  absl::Status ReadAsF32(const std::string& name, float* dst, int64_t n) const;

  // SafetensorsFile::ReadSliceAsF32(name, first, count, dst)
  //
  // Elements [first, first + count) of the tensor (row-major) into `dst` as
  // f32, converted like ReadAsF32. Disjoint slices may be read by several
  // threads at once: a large tensor is converted in parallel this way.
  absl::Status ReadSliceAsF32(const std::string& name, int64_t first,
                              int64_t count, float* dst) const;

  // SafetensorsFile::ReleasePages(name, first, count)
  //
  // Drops the mapped pages wholly inside elements [first, first + count) of
  // the tensor from this process (madvise DONTNEED); they stay in the page
  // cache and a later read maps them again. After copying a tensor out, this
  // keeps the process from holding the file and its copy at once. No-op for
  // a file from FromBuffer or an unknown name.
  void ReleasePages(const std::string& name, int64_t first,
                    int64_t count) const;

  // SafetensorsFile::metadata(): the "__metadata__" string map (may be
  // empty).
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }

 private:
  SafetensorsFile() = default;
  absl::Status ParseHeader();

  std::string path_;
  const uint8_t* data_ = nullptr;  // whole file image
  int64_t size_ = 0;
  void* mapping_ = nullptr;      // mmap base, when mapped
  std::string owned_;            // file image, when from a buffer
  int64_t data_start_ = 0;       // 8 + header length
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

// SafetensorsWriter
//
// Collects tensors and writes them as one .safetensors file. Header keys are
// sorted (JSON object order), tensors are stored in name order, and the
// header is padded with spaces so the data region is 8-byte aligned.
class SafetensorsWriter {
 public:
  // SafetensorsWriter::Add(name, dtype, shape, data)
  //
  // Adds a tensor whose bytes (prod(shape) * size of dtype, little endian)
  // are at `data`. The bytes are borrowed: they must stay valid until Write
  // returns. Duplicate or empty names and "__metadata__" are errors.
  absl::Status Add(const std::string& name, SafetensorsDType dtype,
                   const std::vector<int64_t>& shape, const void* data);

  // SafetensorsWriter::AddF32(name, shape, data, stored)
  //
  // Adds f32 values stored as `stored`: kF32 borrows `data` like Add; kBF16
  // and kF16 convert now (round to nearest even) into a buffer the writer
  // owns. Other dtypes are an error.
  absl::Status AddF32(const std::string& name, const std::vector<int64_t>& shape,
                      const float* data,
                      SafetensorsDType stored = SafetensorsDType::kF32);

  // SafetensorsWriter::Write(path, metadata)
  //
  // Writes the file atomically, with `metadata` as "__metadata__" (omitted
  // when empty).
  absl::Status Write(const std::string& path,
                     const std::map<std::string, std::string>& metadata = {})
      const;

  // SafetensorsWriter::Serialize(metadata)
  //
  // The complete file image in memory (what Write writes).
  std::string Serialize(
      const std::map<std::string, std::string>& metadata = {}) const;

  // SafetensorsWriter::size(): number of tensors added.
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    SafetensorsDType dtype;
    std::vector<int64_t> shape;
    const uint8_t* data;
    int64_t num_bytes;
  };
  // The 8-byte length plus the padded JSON header.
  std::string Header(const std::map<std::string, std::string>& metadata) const;

  std::map<std::string, Entry> entries_;
  std::vector<std::unique_ptr<std::vector<uint16_t>>> converted_;
};

// SafetensorsFolder
//
// The weights of a Hugging Face model folder: either sharded
// (model.safetensors.index.json with a "weight_map" of tensor -> shard file)
// or a single model.safetensors. Every tensor named by the index must be in
// its shard.
class SafetensorsFolder {
 public:
  // SafetensorsFolder::Open(dir)
  //
  // Opens `dir`'s index (or model.safetensors) and every shard it names.
  static absl::StatusOr<std::unique_ptr<SafetensorsFolder>> Open(
      const std::string& dir);

  // SafetensorsFolder::names(): all tensor names, sorted.
  const std::vector<std::string>& names() const { return names_; }

  // SafetensorsFolder::Contains(name): whether some shard holds `name`.
  bool Contains(const std::string& name) const;

  // SafetensorsFolder::File(name): the shard holding `name`; NotFound
  // naming the folder and tensor otherwise.
  absl::StatusOr<const SafetensorsFile*> File(const std::string& name) const;

  // SafetensorsFolder::Info / Raw / ReadAsF32: as on SafetensorsFile, on
  // the shard holding `name`.
  absl::StatusOr<TensorInfo> Info(const std::string& name) const;
  absl::StatusOr<absl::Span<const uint8_t>> Raw(const std::string& name) const;
  absl::Status ReadAsF32(const std::string& name, float* dst, int64_t n) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> by_name_;
  std::vector<std::string> names_;
};

}  // namespace hs::io

#endif  // HAISCALE_IO_SAFETENSORS_H_
