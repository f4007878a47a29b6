// File: data/token_file.cc — mmap'ed flat uint32 token file, see token_file.h.
#include "data/token_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data {
namespace {

static_assert(std::endian::native == std::endian::little,
              "token files are little-endian; add byte swapping for this host");

constexpr int64_t kScanChunk = 1 << 16;  // tokens per parallel scan chunk

}  // namespace

TokenFile::TokenFile(std::string path, const uint32_t* data, int64_t size,
                     size_t map_bytes)
    : path_(std::move(path)), data_(data), size_(size), map_bytes_(map_bytes) {}

TokenFile::~TokenFile() {
  if (data_ != nullptr) munmap(const_cast<uint32_t*>(data_), map_bytes_);
}

absl::StatusOr<std::unique_ptr<TokenFile>> TokenFile::Open(
    const std::string& path) {
  if (io::IsDirectory(path)) {
    HS_ASSIGN_OR_RETURN(auto ds, dataset::PreparedDataset::Open(path));
    std::unique_ptr<TokenFile> file(new TokenFile(path, nullptr, ds->num_tokens(), 0));
    file->dataset_ = std::move(ds);
    return file;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("token file ", path));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, absl::StrCat("token file ", path, ": fstat"));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, ": not a regular file"));
  }
  const int64_t bytes = st.st_size;
  if (bytes == 0) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, ": file is empty (0 tokens)"));
  }
  if (bytes % 4 != 0) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        "token file ", path, ": size ", bytes,
        " bytes is not a multiple of 4 (expected little-endian uint32 ids; ",
        bytes % 4, " trailing bytes)"));
  }
  void* map = mmap(nullptr, size_t(bytes), PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) {
    return ErrnoToStatus(err, absl::StrCat("token file ", path, ": mmap"));
  }
  return std::unique_ptr<TokenFile>(new TokenFile(
      path, static_cast<const uint32_t*>(map), bytes / 4, size_t(bytes)));
}

absl::Status TokenFile::Read(int64_t offset, int64_t n, int32_t* dst) const {
  if (offset < 0 || n < 0 || offset + n > size_) {
    return absl::OutOfRangeError(absl::StrCat(
        "token file ", path_, ": read of tokens [", offset, ", ", offset + n,
        ") is past its ", size_, " tokens"));
  }
  if (dataset_) return dataset_->Read(offset, n, dst);
  std::memcpy(dst, data_ + offset, size_t(n) * sizeof(uint32_t));
  return absl::OkStatus();
}

absl::Status TokenFile::Validate(int64_t vocab_size) const {
  if (vocab_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path_, ": vocab_size ", vocab_size, " <= 0"));
  }
  if (dataset_) {
    if (dataset_->vocab_size() <= uint64_t(vocab_size)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "prepared dataset ", path_, ": its tokenizer's vocabulary has ", dataset_->vocab_size(),
        " ids, more than vocab_size ", vocab_size));
  }
  // Each chunk records its first bad offset; the minimum over chunks is the
  // first bad token of the file, whatever the thread count.
  const uint64_t limit = uint64_t(vocab_size);
  const int64_t chunks = (size_ + kScanChunk - 1) / kScanChunk;
  int64_t first_bad = size_;
#pragma omp parallel for schedule(static) reduction(min : first_bad)
  for (int64_t c = 0; c < chunks; ++c) {
    if (c * kScanChunk >= first_bad) continue;  // a thread-local early out
    const int64_t lo = c * kScanChunk, hi = std::min(size_, lo + kScanChunk);
    for (int64_t i = lo; i < hi; ++i) {
      if (data_[i] >= limit) {
        first_bad = std::min(first_bad, i);
        break;
      }
    }
  }
  if (first_bad == size_) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "token file ", path_, ": token id ", data_[first_bad], " at offset ",
      first_bad, " (byte ", first_bad * 4, ") is out of range for vocab_size ",
      vocab_size));
}

std::pair<uint32_t, uint32_t> TokenFile::MinMax() const {
  uint32_t lo = UINT32_MAX, hi = 0;
  if (dataset_) {
    const dataset::PreparedDataset& ds = *dataset_;
#pragma omp parallel for schedule(static) reduction(min : lo) reduction(max : hi)
    for (int64_t i = 0; i < size_; ++i) {
      lo = std::min(lo, ds.Token(i));
      hi = std::max(hi, ds.Token(i));
    }
    return {lo, hi};
  }
#pragma omp parallel for simd schedule(static) reduction(min : lo) reduction(max : hi)
  for (int64_t i = 0; i < size_; ++i) {
    lo = std::min(lo, data_[i]);
    hi = std::max(hi, data_[i]);
  }
  return {lo, hi};
}

}  // namespace hs::data
