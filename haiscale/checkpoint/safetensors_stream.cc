// File: haiscale/checkpoint/safetensors_stream.cc — see safetensors_stream.h.
#include "haiscale/checkpoint/safetensors_stream.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::checkpoint {
namespace {

using Json = nlohmann::json;

// Appends go through a buffer so many small tensors cost few write calls.
constexpr size_t kWriteBuffer = size_t(8) << 20;

int64_t NumBytes(const StreamTensor& t) {
  int64_t n = io::SafetensorsDTypeSize(t.dtype);
  for (int64_t d : t.shape) n *= d;
  return n;
}

// The 8-byte little-endian length plus the space-padded JSON header.
std::string Header(const std::vector<StreamTensor>& sorted,
                   const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  int64_t offset = 0;
  for (const StreamTensor& t : sorted) {
    const int64_t n = NumBytes(t);
    header[t.name] = {{"dtype", io::SafetensorsDTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::string out(8, '\0');
  const uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[i] = char((len >> (8 * i)) & 0xff);
  return out + text;
}

std::vector<StreamTensor> SortedByName(std::vector<StreamTensor> tensors) {
  std::sort(tensors.begin(), tensors.end(),
            [](const StreamTensor& a, const StreamTensor& b) { return a.name < b.name; });
  return tensors;
}

}  // namespace

uint32_t Crc32Update(uint32_t crc, absl::string_view bytes) {
  uLong c = crc;
  const Bytef* p = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {
    const uInt chunk = uInt(std::min<size_t>(left, size_t(1) << 30));
    c = ::crc32(c, p, chunk);
    p += chunk;
    left -= chunk;
  }
  return uint32_t(c);
}

int64_t SafetensorsNumBytes(const std::vector<StreamTensor>& tensors,
                            const std::map<std::string, std::string>& metadata) {
  std::vector<StreamTensor> sorted = SortedByName(tensors);
  int64_t n = int64_t(Header(sorted, metadata).size());
  for (const StreamTensor& t : sorted) n += NumBytes(t);
  return n;
}

absl::StatusOr<WrittenFile> WriteSafetensorsStreaming(
    const std::string& path, std::vector<StreamTensor> tensors,
    const std::map<std::string, std::string>& metadata) {
  tensors = SortedByName(std::move(tensors));
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].name.empty() || tensors[i].name == "__metadata__") {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": invalid tensor name '", tensors[i].name, "'"));
    }
    if (i > 0 && tensors[i].name == tensors[i - 1].name) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", tensors[i].name, "' given twice"));
    }
  }
  HS_ASSIGN_OR_RETURN(std::unique_ptr<io::AtomicFileWriter> writer,
                      io::AtomicFileWriter::Create(path));
  WrittenFile out;
  std::string buffer;
  buffer.reserve(kWriteBuffer);
  auto flush = [&]() -> absl::Status {
    if (buffer.empty()) return absl::OkStatus();
    HS_RETURN_IF_ERROR(writer->Append(buffer));
    buffer.clear();
    return absl::OkStatus();
  };
  auto append = [&](absl::string_view bytes) -> absl::Status {
    out.crc32 = Crc32Update(out.crc32, bytes);
    out.bytes += int64_t(bytes.size());
    if (buffer.size() + bytes.size() <= kWriteBuffer) {
      buffer.append(bytes.data(), bytes.size());
      return absl::OkStatus();
    }
    HS_RETURN_IF_ERROR(flush());
    if (bytes.size() >= kWriteBuffer / 2) return writer->Append(bytes);
    buffer.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  };
  HS_RETURN_IF_ERROR(append(Header(tensors, metadata)));
  for (const StreamTensor& t : tensors) {
    const int64_t expected = NumBytes(t);
    int64_t emitted = 0;
    const EmitFn emit = [&](absl::string_view bytes) -> absl::Status {
      emitted += int64_t(bytes.size());
      if (emitted > expected) {
        return absl::InternalError(absl::StrCat(path, ": tensor '", t.name, "' produced more than ",
                                                expected, " bytes"));
      }
      return append(bytes);
    };
    if (!t.fill) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", t.name, "' has no data"));
    }
    HS_RETURN_IF_ERROR(t.fill(emit));
    if (emitted != expected) {
      return absl::InternalError(absl::StrCat(path, ": tensor '", t.name, "' produced ", emitted,
                                              " bytes, its shape needs ", expected));
    }
  }
  HS_RETURN_IF_ERROR(flush());
  HS_RETURN_IF_ERROR(writer->Commit());
  return out;
}

absl::StatusOr<uint32_t> FileCrc32(const std::string& path, int64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  std::string buf(size_t(4) << 20, '\0');
  uint32_t crc = 0;
  int64_t total = 0;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, "read " + path);
    }
    if (n == 0) break;
    crc = Crc32Update(crc, absl::string_view(buf.data(), size_t(n)));
    total += n;
  }
  ::close(fd);
  if (size != nullptr) *size = total;
  return crc;
}

}  // namespace hs::checkpoint
