// File: haiscale/io/safetensors.cc
//
// Implementation of haiscale/io/safetensors.h: mmap + header validation,
// dtype conversion, atomic writing (SafetensorsFolder is in
// safetensors_folder.cc). nlohmann::json
// exceptions are caught here and become absl::Status.
#include "haiscale/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "haiscale/dtype.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::io {
namespace {

using Json = nlohmann::json;

constexpr char kMetadataKey[] = "__metadata__";
// Element counts and byte sizes stay below this so products cannot overflow.
constexpr int64_t kMaxBytes = int64_t{1} << 60;

uint64_t ReadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Reads a non-negative JSON integer into *out.
bool GetNonNegative(const Json& value, int64_t* out) {
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(kMaxBytes)) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v < 0) return false;
    *out = v;
    return true;
  }
  return false;
}

}  // namespace

const char* SafetensorsDTypeName(SafetensorsDType dtype) {
  switch (dtype) {
    case SafetensorsDType::kF32:
      return "F32";
    case SafetensorsDType::kBF16:
      return "BF16";
    case SafetensorsDType::kF16:
      return "F16";
    case SafetensorsDType::kI32:
      return "I32";
    case SafetensorsDType::kI64:
      return "I64";
    case SafetensorsDType::kU8:
      return "U8";
  }
  return "?";
}

int64_t SafetensorsDTypeSize(SafetensorsDType dtype) {
  switch (dtype) {
    case SafetensorsDType::kF32:
    case SafetensorsDType::kI32:
      return 4;
    case SafetensorsDType::kBF16:
    case SafetensorsDType::kF16:
      return 2;
    case SafetensorsDType::kI64:
      return 8;
    case SafetensorsDType::kU8:
      return 1;
  }
  return 0;
}

absl::StatusOr<SafetensorsDType> ParseSafetensorsDType(absl::string_view name) {
  for (SafetensorsDType dtype :
       {SafetensorsDType::kF32, SafetensorsDType::kBF16, SafetensorsDType::kF16,
        SafetensorsDType::kI32, SafetensorsDType::kI64, SafetensorsDType::kU8}) {
    if (name == SafetensorsDTypeName(dtype)) return dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype \"", name, "\" (supported: F32, BF16, F16, I32, I64, U8)"));
}

float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;  // +-0
    } else {
      // Subnormal: shift the mantissa up until its leading 1 is the implicit
      // bit, lowering the exponent as we go.
      int32_t e = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --e;
      }
      mantissa &= 0x3ffu;
      bits = sign | (static_cast<uint32_t>(e) << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / NaN
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t F32ToF16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u;  // NaN (quiet)
  // 65520 and above round to infinity (max finite half is 65504).
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half (2^-14): a subnormal half, in units of
    // 2^-24. value = m * 2^(e - 150) with the implicit bit in m, so units =
    // m >> (126 - e), rounded to nearest even.
    if (magnitude < 0x33000000u) return sign;  // < 2^-25 rounds to 0
    const uint32_t e = magnitude >> 23;
    const uint32_t m = (magnitude & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;
    uint32_t r = m >> shift;
    const uint32_t rest = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (r & 1u))) ++r;
    return sign | static_cast<uint16_t>(r);
  }
  // Normal: rebias the exponent (127 -> 15) and keep 10 mantissa bits,
  // rounding the 13 dropped bits to nearest even (a carry into the exponent
  // is the correct result).
  uint32_t h = (magnitude - 0x38000000u) >> 13;
  const uint32_t rest = magnitude & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

int64_t TensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, static_cast<size_t>(size_));
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status status = ErrnoToStatus(errno, absl::StrCat("stat ", path));
    ::close(fd);
    return status;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  file->size_ = st.st_size;
  if (file->size_ > 0) {
    void* mapping = ::mmap(nullptr, static_cast<size_t>(file->size_),
                           PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      absl::Status status = ErrnoToStatus(errno, absl::StrCat("mmap ", path));
      ::close(fd);
      return status;
    }
    file->mapping_ = mapping;
    file->data_ = static_cast<const uint8_t*>(mapping);
  }
  ::close(fd);  // the mapping stays valid
  HS_RETURN_IF_ERROR(file->ParseHeader());
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromBuffer(
    absl::string_view bytes, const std::string& source_name) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = source_name;
  file->owned_.assign(bytes.data(), bytes.size());
  file->data_ = reinterpret_cast<const uint8_t*>(file->owned_.data());
  file->size_ = static_cast<int64_t>(file->owned_.size());
  HS_RETURN_IF_ERROR(file->ParseHeader());
  return file;
}

absl::Status SafetensorsFile::ParseHeader() {
  if (size_ < 8) {
    return absl::DataLossError(absl::StrCat(
        path_, ": truncated: ", size_,
        " bytes, a safetensors file starts with an 8-byte header length"));
  }
  const uint64_t header_len = ReadLe64(data_);
  if (header_len > static_cast<uint64_t>(size_ - 8)) {
    return absl::DataLossError(absl::StrCat(
        path_, ": header length ", header_len, " exceeds the file size (",
        size_, " bytes; truncated or not a safetensors file)"));
  }
  data_start_ = 8 + static_cast<int64_t>(header_len);
  const int64_t data_size = size_ - data_start_;

  Json header;
  try {
    header = Json::parse(reinterpret_cast<const char*>(data_ + 8),
                         reinterpret_cast<const char*>(data_ + data_start_));
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": header is not valid JSON: ", e.what()));
  }
  if (!header.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": header must be a JSON object, got ", header.type_name()));
  }

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const Json& entry = it.value();
    if (name == kMetadataKey) {
      if (!entry.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path_, ": __metadata__ must be an object of strings"));
      }
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": __metadata__.", m.key(),
                           ": expected a string, got ", m.value().type_name()));
        }
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = absl::StrCat(path_, ": tensor '", name, "'");
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected an object with dtype, shape and "
                              "data_offsets"));
    }
    TensorInfo info;
    info.name = name;
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": missing or non-string \"dtype\""));
    }
    absl::StatusOr<SafetensorsDType> dtype =
        ParseSafetensorsDType(entry["dtype"].get<std::string>());
    if (!dtype.ok()) return Annotate(dtype.status(), where);
    info.dtype = *dtype;

    if (!entry.contains("shape") || !entry["shape"].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": missing or non-array \"shape\""));
    }
    int64_t elements = 1;
    for (const Json& dim : entry["shape"]) {
      int64_t d = 0;
      if (!GetNonNegative(dim, &d)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": shape entries must be non-negative integers, got ",
            dim.dump()));
      }
      info.shape.push_back(d);
      if (d != 0 && elements > kMaxBytes / d) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": shape ", entry["shape"].dump(),
                         " is too large"));
      }
      elements *= d;
    }
    const Json* offsets =
        entry.contains("data_offsets") ? &entry["data_offsets"] : nullptr;
    if (offsets == nullptr || !offsets->is_array() || offsets->size() != 2 ||
        !GetNonNegative((*offsets)[0], &info.begin) ||
        !GetNonNegative((*offsets)[1], &info.end) || info.begin > info.end) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": \"data_offsets\" must be [begin, end] with 0 <= begin <= "
                 "end, got ",
          offsets == nullptr ? "nothing" : offsets->dump()));
    }
    const int64_t expected = elements * SafetensorsDTypeSize(info.dtype);
    if (info.end - info.begin != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": shape ", ShapeString(info.shape), " of ",
          SafetensorsDTypeName(info.dtype), " needs ", expected,
          " bytes but data_offsets [", info.begin, ", ", info.end, "] span ",
          info.end - info.begin));
    }
    if (info.end > data_size) {
      return absl::DataLossError(absl::StrCat(
          where, ": data_offsets [", info.begin, ", ", info.end,
          "] run past the data region (", data_size,
          " bytes; file truncated?)"));
    }
    tensors_.emplace(name, std::move(info));
  }

  // The tensors must tile the data region: sorted by offset, each starts
  // where the previous one ended and the last ends at the end of the file.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [name, info] : tensors_) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) {
              return std::make_pair(a->begin, a->end) <
                     std::make_pair(b->begin, b->end);
            });
  int64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* info : by_offset) {
    if (info->begin < covered) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": tensor '", info->name, "' (bytes [", info->begin, ", ",
          info->end, "]) overlaps tensor '", previous->name, "' (bytes [",
          previous->begin, ", ", previous->end, "])"));
    }
    if (info->begin > covered) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": bytes [", covered, ", ", info->begin,
          ") of the data region belong to no tensor (before tensor '",
          info->name, "')"));
    }
    covered = info->end;
    previous = info;
  }
  if (covered != data_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": the data region has ", data_size,
        " bytes but the tensors cover only ", covered));
  }
  for (const auto& [name, info] : tensors_) names_.push_back(name);
  return absl::OkStatus();
}

bool SafetensorsFile::Contains(const std::string& name) const {
  return tensors_.count(name) > 0;
}

absl::StatusOr<TensorInfo> SafetensorsFile::Info(
    const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(
        absl::StrCat(path_, ": no tensor named '", name, "'"));
  }
  return it->second;
}

absl::StatusOr<absl::Span<const uint8_t>> SafetensorsFile::Raw(
    const std::string& name) const {
  HS_ASSIGN_OR_RETURN(TensorInfo info, Info(name));
  return absl::Span<const uint8_t>(data_ + data_start_ + info.begin,
                                   static_cast<size_t>(info.num_bytes()));
}

absl::Status SafetensorsFile::ReadAsF32(const std::string& name, float* dst,
                                        int64_t n) const {
  HS_ASSIGN_OR_RETURN(TensorInfo info, Info(name));
  if (n != info.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": tensor '", name, "' has ", info.num_elements(),
        " elements (shape ", ShapeString(info.shape), "), caller expects ",
        n));
  }
  return ReadSliceAsF32(name, 0, n, dst);
}

absl::Status SafetensorsFile::ReadSliceAsF32(const std::string& name,
                                             int64_t first, int64_t count,
                                             float* dst) const {
  HS_ASSIGN_OR_RETURN(TensorInfo info, Info(name));
  // (Written so that huge first/count cannot overflow.)
  if (first < 0 || count < 0 || first > info.num_elements() ||
      count > info.num_elements() - first) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": elements [", first, ", ",
        // unsigned: the end is printed even where first + count overflows
        static_cast<uint64_t>(first) + static_cast<uint64_t>(count), ") of tensor '",
        name, "' are outside its ", info.num_elements(), " elements"));
  }
  const int64_t elem = SafetensorsDTypeSize(info.dtype);
  const uint8_t* src = data_ + data_start_ + info.begin + first * elem;
  switch (info.dtype) {
    case SafetensorsDType::kF32:
      // memcpy with a null dst is undefined even for 0 bytes (an empty
      // tensor read into an empty vector).
      if (count > 0) std::memcpy(dst, src, static_cast<size_t>(count) * 4);
      return absl::OkStatus();
    case SafetensorsDType::kBF16:
      for (int64_t i = 0; i < count; ++i) {
        bf16 v;
        std::memcpy(&v.bits, src + 2 * i, 2);
        dst[i] = Bf16ToFloat(v);
      }
      return absl::OkStatus();
    case SafetensorsDType::kF16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        dst[i] = F16ToF32(bits);
      }
      return absl::OkStatus();
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path_, ": tensor '", name, "' is ", SafetensorsDTypeName(info.dtype),
      ", not a floating-point type that converts to f32"));
}

void SafetensorsFile::ReleasePages(const std::string& name, int64_t first,
                                   int64_t count) const {
  if (mapping_ == nullptr) return;
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return;
  const TensorInfo& info = it->second;
  const int64_t elem = SafetensorsDTypeSize(info.dtype);
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  const int64_t lo = data_start_ + info.begin + first * elem;
  const int64_t hi = std::min<int64_t>(lo + count * elem, data_start_ + info.end);
  // Only whole pages inside the range: a page shared with a neighbour may
  // still be read by another thread.
  const int64_t begin = (lo + page - 1) / page * page, end = hi / page * page;
  if (end <= begin) return;
  // The mapping is private and read-only: dropping pages loses nothing,
  // a later read faults them in again from the page cache.
  ::madvise(static_cast<uint8_t*>(mapping_) + begin, size_t(end - begin), MADV_DONTNEED);
}

// ---------------------------------------------------------------------------
// SafetensorsWriter

absl::Status SafetensorsWriter::Add(const std::string& name,
                                    SafetensorsDType dtype,
                                    const std::vector<int64_t>& shape,
                                    const void* data) {
  if (name.empty() || name == kMetadataKey) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors: invalid tensor name '", name, "'"));
  }
  if (entries_.count(name) > 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("safetensors: tensor '", name, "' added twice"));
  }
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d != 0 && elements > kMaxBytes / d)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "safetensors: tensor '", name, "': invalid shape ",
          ShapeString(shape)));
    }
    elements *= d;
  }
  const int64_t num_bytes = elements * SafetensorsDTypeSize(dtype);
  if (num_bytes > 0 && data == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors: tensor '", name, "': null data"));
  }
  entries_.emplace(name, Entry{dtype, shape,
                               static_cast<const uint8_t*>(data), num_bytes});
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::AddF32(const std::string& name,
                                       const std::vector<int64_t>& shape,
                                       const float* data,
                                       SafetensorsDType stored) {
  if (stored == SafetensorsDType::kF32) {
    return Add(name, SafetensorsDType::kF32, shape, data);
  }
  if (stored != SafetensorsDType::kBF16 && stored != SafetensorsDType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors: tensor '", name, "': cannot store f32 as ",
        SafetensorsDTypeName(stored)));
  }
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d != 0 && elements > kMaxBytes / d)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "safetensors: tensor '", name, "': invalid shape ",
          ShapeString(shape)));
    }
    elements *= d;
  }
  auto buffer = std::make_unique<std::vector<uint16_t>>(
      static_cast<size_t>(elements));
  for (int64_t i = 0; i < elements; ++i) {
    (*buffer)[i] = stored == SafetensorsDType::kBF16 ? FloatToBf16(data[i]).bits
                                                     : F32ToF16(data[i]);
  }
  HS_RETURN_IF_ERROR(Add(name, stored, shape, buffer->data()));
  converted_.push_back(std::move(buffer));
  return absl::OkStatus();
}

std::string SafetensorsWriter::Header(
    const std::map<std::string, std::string>& metadata) const {
  Json header = Json::object();
  int64_t offset = 0;
  for (const auto& [name, entry] : entries_) {
    header[name] = {{"dtype", SafetensorsDTypeName(entry.dtype)},
                    {"shape", entry.shape},
                    {"data_offsets", {offset, offset + entry.num_bytes}}};
    offset += entry.num_bytes;
  }
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::string text = header.dump();
  // Pad with spaces (valid JSON whitespace) so the data region starts at a
  // multiple of 8 bytes.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::string out(8, '\0');
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  out += text;
  return out;
}

std::string SafetensorsWriter::Serialize(
    const std::map<std::string, std::string>& metadata) const {
  std::string out = Header(metadata);
  for (const auto& [name, entry] : entries_) {
    out.append(reinterpret_cast<const char*>(entry.data),
               static_cast<size_t>(entry.num_bytes));
  }
  return out;
}

absl::Status SafetensorsWriter::Write(
    const std::string& path,
    const std::map<std::string, std::string>& metadata) const {
  HS_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer,
                      AtomicFileWriter::Create(path));
  HS_RETURN_IF_ERROR(writer->Append(Header(metadata)));
  for (const auto& [name, entry] : entries_) {
    HS_RETURN_IF_ERROR(writer->Append(absl::string_view(
        reinterpret_cast<const char*>(entry.data),
        static_cast<size_t>(entry.num_bytes))));
  }
  return writer->Commit();
}

}  // namespace hs::io
