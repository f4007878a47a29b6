// File: haiscale/metrics/tensorboard.cc — see tensorboard.h.
#include "haiscale/metrics/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "haiscale/metrics/tb_event.pb.h"
#include "haiscale/status.h"

namespace hs::metrics {
namespace {

// Table for the reflected Castagnoli polynomial 0x82F63B78.
const std::array<uint32_t, 256>& Crc32cTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(char((v >> (8 * i)) & 0xff));
}
void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(char((v >> (8 * i)) & 0xff));
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
  return v;
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
  return v;
}

double WallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t Crc32c(const void* data, size_t n) {
  const auto& t = Crc32cTable();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = t[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t MaskedCrc32c(const void* data, size_t n) {
  const uint32_t crc = Crc32c(data, n);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string FrameRecord(absl::string_view data) {
  std::string out;
  std::string len;
  PutU64(&len, data.size());
  out += len;
  PutU32(&out, MaskedCrc32c(len.data(), len.size()));
  out.append(data.data(), data.size());
  PutU32(&out, MaskedCrc32c(data.data(), data.size()));
  return out;
}

absl::StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  std::unique_ptr<TensorBoardWriter> w(new TensorBoardWriter());
  w->path_ = (std::filesystem::path(dir) /
              absl::StrCat("events.out.tfevents.", int64_t(WallTime()), ".", host))
                 .string();
  w->file_ = std::fopen(w->path_.c_str(), "ab");
  if (w->file_ == nullptr) return ErrnoToStatus(errno, "opening " + w->path_);
  Event first;
  first.set_wall_time(WallTime());
  first.set_file_version("brain.Event:2");
  HS_RETURN_IF_ERROR(w->WriteRecord(first.SerializeAsString()));
  return w;
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status TensorBoardWriter::WriteRecord(const std::string& data) {
  const std::string rec = FrameRecord(data);
  if (std::fwrite(rec.data(), 1, rec.size(), file_) != rec.size() || std::fflush(file_) != 0) {
    return ErrnoToStatus(errno, "writing " + path_);
  }
  return absl::OkStatus();
}

absl::Status TensorBoardWriter::AddScalars(
    int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  Event e;
  e.set_wall_time(WallTime());
  e.set_step(step);
  for (const auto& [tag, value] : values) {
    SummaryValue* v = e.mutable_summary()->add_value();
    v->set_tag(tag);
    v->set_simple_value(float(value));
  }
  return WriteRecord(e.SerializeAsString());
}

absl::StatusOr<std::vector<std::string>> ReadRecords(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t index = out.size();
    if (bytes.size() - pos < 12) {
      return absl::DataLossError(absl::StrCat(path, ": record ", index, ": truncated header"));
    }
    const uint64_t len = GetU64(bytes.data() + pos);
    if (GetU32(bytes.data() + pos + 8) != MaskedCrc32c(bytes.data() + pos, 8)) {
      return absl::DataLossError(absl::StrCat(path, ": record ", index, ": length CRC mismatch"));
    }
    if (bytes.size() - pos - 12 < len + 4) {
      return absl::DataLossError(absl::StrCat(path, ": record ", index, ": truncated data"));
    }
    const char* data = bytes.data() + pos + 12;
    if (GetU32(data + len) != MaskedCrc32c(data, len)) {
      return absl::DataLossError(absl::StrCat(path, ": record ", index, ": data CRC mismatch"));
    }
    out.emplace_back(data, len);
    pos += 12 + len + 4;
  }
  return out;
}

}  // namespace hs::metrics
