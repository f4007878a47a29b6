// File: data/token_file.h
//
// TokenFile: a read-only memory map of training tokens, in either format:
//   - a flat token file: little-endian uint32 token ids back to back, no
//     header (token i is bytes [4i, 4i + 4));
//   - a prepared dataset directory (`hai data prepare`, data/dataset/):
//     uint16/uint32 shards plus an index with document offsets.
// Pages load on demand, so opening a multi-GB file is instant and every DP
// rank shares the page cache.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(std::unique_ptr<TokenFile> file, TokenFile::Open(path));
//   HS_RETURN_IF_ERROR(file->Validate(vocab_size));
//   std::vector<int32_t> ids(n);
//   HS_RETURN_IF_ERROR(file->Read(offset, n, ids.data()));
#ifndef DATA_TOKEN_FILE_H_
#define DATA_TOKEN_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset/reader.h"

namespace hs::data {

class TokenFile {
 public:
  // TokenFile::Open(path)
  //
  // Maps the file read-only. Errors name the file: missing or unreadable
  // (NotFound / PermissionDenied), empty, or a size that is not a multiple
  // of 4 bytes (InvalidArgument, with the size). A directory is opened as a
  // prepared dataset (PreparedDataset::Open and its checks).
  static absl::StatusOr<std::unique_ptr<TokenFile>> Open(
      const std::string& path);

  ~TokenFile();
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  // TokenFile::size(): number of tokens.
  int64_t size() const { return size_; }

  // TokenFile::path(): the path it was opened with (for error messages).
  const std::string& path() const { return path_; }

  // TokenFile::data(): the raw little-endian ids, size() of them, of a flat
  // file; nullptr for a prepared dataset (use Read).
  const uint32_t* data() const { return data_; }

  // TokenFile::dataset(): the prepared dataset (document offsets, EOS id),
  // or nullptr for a flat file, which has no document boundaries.
  const dataset::PreparedDataset* dataset() const { return dataset_.get(); }

  // TokenFile::Read(offset, n, dst)
  //
  // Copies tokens [offset, offset + n) into dst[n] as int32. OutOfRange
  // naming the file when the range exceeds size(). Ids are not checked
  // here (see Validate); ids >= 2^31 wrap negative.
  absl::Status Read(int64_t offset, int64_t n, int32_t* dst) const;

  // TokenFile::Validate(vocab_size)
  //
  // OK when every id is < vocab_size; otherwise InvalidArgument naming the
  // file, the first bad id and its token offset. OpenMP-parallel scan. A
  // prepared dataset's ids were checked against its tokenizer's vocabulary
  // when written (and are covered by its CRCs): only that vocabulary size is
  // compared, without a scan.
  absl::Status Validate(int64_t vocab_size) const;

  // TokenFile::MinMax(): the smallest and largest id (parallel scan).
  std::pair<uint32_t, uint32_t> MinMax() const;

 private:
  TokenFile(std::string path, const uint32_t* data, int64_t size,
            size_t map_bytes);

  std::string path_;
  std::unique_ptr<dataset::PreparedDataset> dataset_;
  const uint32_t* data_;
  int64_t size_;
  size_t map_bytes_;
};

}  // namespace hs::data

#endif  // DATA_TOKEN_FILE_H_
