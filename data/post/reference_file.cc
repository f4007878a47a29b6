// File: data/post/reference_file.cc — see reference_file.h.
#include "data/post/reference_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/dataset/crc32c.h"
#include "data/post/raw_bytes.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data::post {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'H', 'A', 'I', 'D', 'P', 'O', 'R', 'F'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeaderBytes = 48;

bool IsWeightsFile(const std::string& name) {
  return name == "config.json" || absl::EndsWith(name, ".safetensors") ||
         absl::EndsWith(name, ".safetensors.index.json");
}

}  // namespace

absl::StatusOr<WeightsIdentity> IdentifyWeights(const std::string& dir) {
  if (!io::IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("weights folder '", dir, "' does not exist"));
  }
  std::vector<std::string> names;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && IsWeightsFile(name)) names.push_back(name);
  }
  if (ec) return absl::InternalError(absl::StrCat("listing '", dir, "': ", ec.message()));
  std::sort(names.begin(), names.end());
  if (std::find(names.begin(), names.end(), "config.json") == names.end() ||
      names.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", dir, "' is not a Hugging Face weights folder (config.json + safetensors)"));
  }
  WeightsIdentity id;
  std::vector<char> buf(1 << 20);
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(dir, "/", name);
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
    id.crc = Crc32cExtend(id.crc, name.data(), name.size());
    uint64_t size = 0;
    while (in) {
      in.read(buf.data(), std::streamsize(buf.size()));
      const std::streamsize n = in.gcount();
      if (n <= 0) break;
      id.crc = Crc32cExtend(id.crc, buf.data(), size_t(n));
      size += uint64_t(n);
    }
    if (in.bad()) return absl::DataLossError(absl::StrCat("reading ", path));
    id.crc = Crc32cExtend(id.crc, &size, sizeof(size));
    id.bytes += size;
  }
  return id;
}

uint32_t RowsCrc(const PostRows& rows) {
  uint32_t crc = 0;
  for (const std::vector<int32_t>* v : {&rows.tokens, &rows.targets, &rows.positions}) {
    crc = Crc32cExtend(crc, v->data(), v->size() * sizeof(int32_t));
  }
  return crc;
}

std::string FormatIdentity(const WeightsIdentity& id) {
  return absl::StrFormat("crc32c 0x%08x, %d bytes", id.crc, id.bytes);
}

absl::Status WriteRowsReference(const std::string& dir, const RowsReference& ref) {
  std::string out;
  out.append(kMagic, 8);
  PutRaw<uint32_t>(&out, kVersion);
  PutRaw<uint32_t>(&out, ref.rows_crc);
  PutRaw<uint64_t>(&out, ref.logps.size());
  PutRaw<uint32_t>(&out, ref.weights.crc);
  PutRaw<uint32_t>(&out, 0);
  PutRaw<uint64_t>(&out, ref.weights.bytes);
  PutRaw<uint64_t>(&out, ref.weights_dir.size());
  out += ref.weights_dir;
  out.append(reinterpret_cast<const char*>(ref.logps.data()), ref.logps.size() * sizeof(double));
  PutRaw<uint32_t>(&out, Crc32cExtend(0, out.data(), out.size()));
  return io::WriteFileAtomically(absl::StrCat(dir, "/", kReferenceFileName), out);
}

absl::StatusOr<std::optional<RowsReference>> ReadRowsReference(const std::string& dir) {
  const std::string file = absl::StrCat(dir, "/", kReferenceFileName);
  if (!fs::exists(file)) return std::optional<RowsReference>();
  HS_ASSIGN_OR_RETURN(std::string in, io::ReadFileToString(file));
  auto bad = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat(file, ": ", what));
  };
  if (int64_t(in.size()) < kHeaderBytes + 4 || std::memcmp(in.data(), kMagic, 8) != 0) {
    return bad("not a DPO reference file (bad magic or too short)");
  }
  if (GetRaw<uint32_t>(in, 8) != kVersion) {
    return bad(absl::StrCat("version ", GetRaw<uint32_t>(in, 8), ", expected ", kVersion));
  }
  const uint32_t stored = GetRaw<uint32_t>(in, int64_t(in.size()) - 4);
  if (Crc32cExtend(0, in.data(), in.size() - 4) != stored) return bad("checksum mismatch");
  RowsReference ref;
  ref.rows_crc = GetRaw<uint32_t>(in, 12);
  const uint64_t rows = GetRaw<uint64_t>(in, 16);
  ref.weights.crc = GetRaw<uint32_t>(in, 24);
  ref.weights.bytes = GetRaw<uint64_t>(in, 32);
  const uint64_t name = GetRaw<uint64_t>(in, 40);
  if (name > in.size() || rows > in.size() ||
      uint64_t(kHeaderBytes) + name + rows * sizeof(double) + 4 != in.size()) {
    return bad(absl::StrCat(in.size(), " bytes do not hold ", rows, " rows"));
  }
  ref.weights_dir = in.substr(kHeaderBytes, name);
  ref.logps.resize(rows);
  std::memcpy(ref.logps.data(), in.data() + kHeaderBytes + name, rows * sizeof(double));
  return std::optional<RowsReference>(std::move(ref));
}

}  // namespace hs::data::post
