// File: data/dataset/reader.cc — memory-mapped prepared dataset, see reader.h.
#include "data/dataset/reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "data/dataset/crc32c.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data::dataset {
namespace {

static_assert(std::endian::native == std::endian::little,
              "prepared datasets are little-endian; add byte swapping for this host");

absl::Status Corrupt(const std::string& file, int64_t offset, const std::string& what) {
  return absl::DataLossError(
      absl::StrCat("prepared dataset ", file, ": byte ", offset, ": ", what));
}

}  // namespace

bool PreparedDataset::IsPreparedDataset(const std::string& path) {
  struct stat st;
  return io::IsDirectory(path) &&
         ::stat(absl::StrCat(path, "/", kIndexFileName).c_str(), &st) == 0;
}

absl::StatusOr<PreparedDataset::Mapping> PreparedDataset::Map(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("prepared dataset ", path));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, absl::StrCat("prepared dataset ", path, ": fstat"));
  }
  Mapping m;
  m.bytes = size_t(st.st_size);
  if (m.bytes == 0) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat("prepared dataset ", path, ": file is empty"));
  }
  void* p = mmap(nullptr, m.bytes, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) return ErrnoToStatus(err, absl::StrCat("prepared dataset ", path, ": mmap"));
  m.data = static_cast<const char*>(p);
  return m;
}

PreparedDataset::~PreparedDataset() {
  if (index_.data) munmap(const_cast<char*>(index_.data), index_.bytes);
  for (Shard& s : shards_) {
    if (s.map.data) munmap(const_cast<char*>(s.map.data), s.map.bytes);
  }
}

std::string PreparedDataset::ShardPath(int64_t s) const {
  return absl::StrCat(dir_, "/", ShardFileName(s));
}

absl::StatusOr<std::unique_ptr<PreparedDataset>> PreparedDataset::Open(const std::string& dir) {
  if (!io::IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("prepared dataset ", dir, ": not a directory"));
  }
  std::unique_ptr<PreparedDataset> ds(new PreparedDataset(dir));
  HS_RETURN_IF_ERROR(ds->OpenIndex());
  for (int64_t s = 0; s < int64_t(ds->header_.num_shards); ++s) {
    HS_RETURN_IF_ERROR(ds->OpenShard(s));
  }
  return ds;
}

absl::Status PreparedDataset::OpenIndex() {
  const std::string path = absl::StrCat(dir_, "/", kIndexFileName);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "prepared dataset ", dir_, ": no ", kIndexFileName,
        " (not a prepared dataset, or an interrupted `hai data prepare` left it incomplete)"));
  }
  HS_ASSIGN_OR_RETURN(index_, Map(path));
  HS_ASSIGN_OR_RETURN(header_, DecodeIndexHeader(absl::string_view(index_.data, index_.bytes), path));
  const int64_t shards_at = kIndexHeaderBytes;
  const int64_t docs_at = shards_at + int64_t(header_.num_shards) * kIndexShardEntryBytes;
  const int64_t expected = docs_at + int64_t(header_.num_docs + 1) * 8 + 4;
  if (int64_t(index_.bytes) != expected) {
    return Corrupt(path, int64_t(index_.bytes),
                   absl::StrCat("file is ", index_.bytes, " bytes but its header (", header_.num_shards,
                                " shards, ", header_.num_docs, " documents) needs ", expected,
                                int64_t(index_.bytes) < expected ? " (truncated)" : ""));
  }
  uint64_t total = 0;
  shards_.resize(header_.num_shards);
  for (uint32_t s = 0; s < header_.num_shards; ++s) {
    const char* e = index_.data + shards_at + s * kIndexShardEntryBytes;
    shards_[s].tokens = int64_t(GetU64(e));
    shards_[s].crc = GetU32(e + 8);
    const bool last = s + 1 == header_.num_shards;
    if ((!last && uint64_t(shards_[s].tokens) != header_.shard_capacity) ||
        (last && (shards_[s].tokens < 1 || uint64_t(shards_[s].tokens) > header_.shard_capacity))) {
      return Corrupt(path, shards_at + s * kIndexShardEntryBytes,
                     absl::StrCat("shard ", s, " holds ", shards_[s].tokens,
                                  " tokens; shard capacity is ", header_.shard_capacity));
    }
    total += uint64_t(shards_[s].tokens);
  }
  if (total != header_.num_tokens) {
    return Corrupt(path, 24, absl::StrCat("token count ", header_.num_tokens,
                                          " != the shards' sum ", total));
  }
  doc_offsets_ = index_.data + docs_at;
  if (DocStart(0) != 0 || uint64_t(DocStart(num_docs())) != header_.num_tokens) {
    return Corrupt(path, docs_at,
                   absl::StrCat("document offsets run from ", DocStart(0), " to ",
                                DocStart(num_docs()), ", expected 0 to ", header_.num_tokens));
  }
  return absl::OkStatus();
}

absl::Status PreparedDataset::OpenShard(int64_t s) {
  const std::string path = ShardPath(s);
  Shard& shard = shards_[s];
  HS_ASSIGN_OR_RETURN(shard.map, Map(path));
  HS_ASSIGN_OR_RETURN(ShardHeader h,
                      DecodeShardHeader(absl::string_view(shard.map.data, shard.map.bytes), path));
  if (h.token_bytes != header_.token_bytes) {
    return Corrupt(path, 12, absl::StrCat("token size ", h.token_bytes, " != the index's ",
                                          header_.token_bytes));
  }
  if (h.index != uint32_t(s)) {
    return Corrupt(path, 24, absl::StrCat("shard number ", h.index, ", expected ", s));
  }
  if (int64_t(h.num_tokens) != shard.tokens) {
    return Corrupt(path, 16, absl::StrCat("token count ", h.num_tokens, " != the index's ",
                                          shard.tokens));
  }
  const int64_t expected = kShardHeaderBytes + shard.tokens * header_.token_bytes;
  if (int64_t(shard.map.bytes) != expected) {
    return Corrupt(path, int64_t(shard.map.bytes),
                   absl::StrCat("file is ", shard.map.bytes, " bytes, expected ", expected, " (",
                                shard.tokens, " tokens of ", header_.token_bytes, " bytes)",
                                int64_t(shard.map.bytes) < expected ? ": truncated" : ""));
  }
  shard.payload = shard.map.data + kShardHeaderBytes;
  return absl::OkStatus();
}

uint32_t PreparedDataset::Token(int64_t i) const {
  const int64_t cap = int64_t(header_.shard_capacity);
  const Shard& s = shards_[size_t(i / cap)];
  const int64_t j = i % cap;
  if (header_.token_bytes == 2) {
    uint16_t v;
    std::memcpy(&v, s.payload + 2 * j, 2);
    return v;
  }
  uint32_t v;
  std::memcpy(&v, s.payload + 4 * j, 4);
  return v;
}

absl::Status PreparedDataset::Read(int64_t offset, int64_t n, int32_t* dst) const {
  if (offset < 0 || n < 0 || offset + n > num_tokens()) {
    return absl::OutOfRangeError(absl::StrCat("prepared dataset ", dir_, ": read of tokens [",
                                              offset, ", ", offset + n, ") is past its ",
                                              num_tokens(), " tokens"));
  }
  const int64_t cap = int64_t(header_.shard_capacity);
  while (n > 0) {
    const Shard& s = shards_[size_t(offset / cap)];
    const int64_t j = offset % cap;
    const int64_t take = std::min(n, s.tokens - j);
    if (header_.token_bytes == 2) {
      const uint16_t* src = reinterpret_cast<const uint16_t*>(s.payload) + j;
      for (int64_t i = 0; i < take; ++i) dst[i] = int32_t(src[i]);
    } else {
      std::memcpy(dst, s.payload + 4 * j, size_t(take) * 4);
    }
    dst += take;
    offset += take;
    n -= take;
  }
  return absl::OkStatus();
}

int64_t PreparedDataset::DocStart(int64_t d) const {
  return int64_t(GetU64(doc_offsets_ + 8 * d));
}

int64_t PreparedDataset::DocumentAt(int64_t offset) const {
  int64_t lo = 0, hi = num_docs();  // invariant: DocStart(lo) <= offset < DocStart(hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (DocStart(mid) <= offset) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

absl::Status PreparedDataset::VerifyChecksums(
    const std::function<void(int64_t, int64_t)>& on_shard) const {
  const std::string index_path = absl::StrCat(dir_, "/", kIndexFileName);
  const uint32_t stored = GetU32(index_.data + index_.bytes - 4);
  const uint32_t actual = Crc32cExtend(0, index_.data, index_.bytes - 4);
  if (stored != actual) {
    return Corrupt(index_path, int64_t(index_.bytes) - 4,
                   absl::StrCat("CRC-32C mismatch: stored ", stored, ", computed ", actual));
  }
  for (int64_t d = 0; d < num_docs(); ++d) {
    if (DocStart(d + 1) <= DocStart(d)) {
      return Corrupt(index_path, (doc_offsets_ - index_.data) + 8 * (d + 1),
                     absl::StrCat("document ", d + 1, " starts at ", DocStart(d + 1),
                                  ", not after document ", d, " (", DocStart(d), ")"));
    }
    const int64_t last = DocStart(d + 1) - 1;
    if (Token(last) != eos_id()) {
      const int64_t cap = int64_t(header_.shard_capacity);
      return Corrupt(ShardPath(last / cap), kShardHeaderBytes + (last % cap) * header_.token_bytes,
                     absl::StrCat("document ", d, " ends with token ", Token(last),
                                  ", not the EOS id ", eos_id()));
    }
  }
  for (int64_t s = 0; s < num_shards(); ++s) {
    const Shard& shard = shards_[s];
    const size_t bytes = size_t(shard.tokens) * header_.token_bytes;
    const uint32_t crc = Crc32cExtend(0, shard.payload, bytes);
    if (crc != shard.crc) {
      return Corrupt(ShardPath(s), kShardHeaderBytes,
                     absl::StrCat("payload CRC-32C ", crc, " != the index's ", shard.crc,
                                  " (corrupted shard)"));
    }
    if (on_shard) on_shard(s, int64_t(bytes));
  }
  return absl::OkStatus();
}

}  // namespace hs::data::dataset
