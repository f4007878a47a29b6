// File: data/dataset/reader.h
//
// PreparedDataset: a read-only view of one prepared-dataset split (format.h).
// The index and every shard are memory-mapped; Open checks what is cheap
// (magics, versions, token sizes, shard counts and file sizes against the
// index, the first and last document offsets), VerifyChecksums the rest
// (shard CRC-32Cs, the index CRC, document offsets in order) on demand.
// Errors name the file and the byte offset of what is wrong.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto ds, PreparedDataset::Open("prepared/train"));
//   std::vector<int32_t> ids(n);
//   HS_RETURN_IF_ERROR(ds->Read(offset, n, ids.data()));
//   int64_t d = ds->DocumentAt(offset);   // the document holding that token
#ifndef DATA_DATASET_READER_H_
#define DATA_DATASET_READER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset/format.h"

namespace hs::data::dataset {

class PreparedDataset {
 public:
  // IsPreparedDataset(path): `path` is a directory holding an index.hds.
  static bool IsPreparedDataset(const std::string& path);

  // PreparedDataset::Open(dir): maps and checks the split in `dir`. A
  // directory without index.hds is rejected as incomplete (an interrupted
  // `hai data prepare` never writes one).
  static absl::StatusOr<std::unique_ptr<PreparedDataset>> Open(const std::string& dir);

  ~PreparedDataset();
  PreparedDataset(const PreparedDataset&) = delete;
  PreparedDataset& operator=(const PreparedDataset&) = delete;

  const std::string& dir() const { return dir_; }
  const IndexHeader& header() const { return header_; }
  int64_t num_tokens() const { return int64_t(header_.num_tokens); }
  int64_t num_docs() const { return int64_t(header_.num_docs); }
  int64_t num_shards() const { return int64_t(shards_.size()); }
  uint32_t eos_id() const { return header_.eos_id; }
  uint64_t vocab_size() const { return header_.vocab_size; }

  // Token(i): id of token i of the stream (0 <= i < num_tokens()).
  uint32_t Token(int64_t i) const;

  // Read(offset, n, dst): tokens [offset, offset + n) as int32 into dst[n];
  // OutOfRange naming the dataset past the end.
  absl::Status Read(int64_t offset, int64_t n, int32_t* dst) const;

  // DocStart(d): token offset where document d starts, d in [0, num_docs];
  // DocStart(num_docs) == num_tokens().
  int64_t DocStart(int64_t d) const;

  // DocumentAt(offset): the document holding token `offset` (binary search).
  int64_t DocumentAt(int64_t offset) const;

  // VerifyChecksums(on_shard): recomputes the index's CRC-32C, checks the
  // document offsets increase and every document ends with the EOS id, then
  // recomputes every shard's CRC-32C; DataLoss naming the file and byte
  // offset on a mismatch. on_shard(s, bytes) is called after each shard.
  absl::Status VerifyChecksums(
      const std::function<void(int64_t shard, int64_t bytes)>& on_shard = nullptr) const;

  // ShardPath(s): the file of shard s.
  std::string ShardPath(int64_t s) const;

 private:
  struct Mapping {
    const char* data = nullptr;
    size_t bytes = 0;
  };
  struct Shard {
    Mapping map;
    const char* payload = nullptr;
    int64_t tokens = 0;
    uint32_t crc = 0;
  };
  explicit PreparedDataset(std::string dir) : dir_(std::move(dir)) {}
  static absl::StatusOr<Mapping> Map(const std::string& path);
  absl::Status OpenIndex();
  absl::Status OpenShard(int64_t s);

  std::string dir_;
  Mapping index_;
  IndexHeader header_;
  const char* doc_offsets_ = nullptr;  // num_docs + 1 little-endian u64
  std::vector<Shard> shards_;
};

}  // namespace hs::data::dataset

#endif  // DATA_DATASET_READER_H_
