// File: data/dataset/writer.h
//
// DatasetWriter: streams documents into one prepared-dataset split (format.h).
// Each shard is buffered in memory (shard_capacity tokens), written with
// temp + fsync + rename, and the index last, so a directory whose writing
// was interrupted has no index.hds and no reader accepts it.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto w, DatasetWriter::Create(dir, vocab, eos, 128 << 20));
//   HS_RETURN_IF_ERROR(w->AddDocument(ids));        // EOS appended here
//   HS_RETURN_IF_ERROR(w->Finish());
#ifndef DATA_DATASET_WRITER_H_
#define DATA_DATASET_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "data/dataset/format.h"

namespace hs::data::dataset {

class DatasetWriter {
 public:
  // DatasetWriter::Create(dir, vocab_size, eos_id, shard_bytes)
  //
  // Creates `dir` (mkdir -p). Shards hold shard_bytes / token_bytes tokens
  // (uint16 ids when vocab_size <= 65536, else uint32); at least 1 token.
  static absl::StatusOr<std::unique_ptr<DatasetWriter>> Create(const std::string& dir,
                                                               uint64_t vocab_size,
                                                               uint32_t eos_id,
                                                               int64_t shard_bytes);

  // AddDocument(ids): appends ids then eos_id as the next document. Errors
  // (naming the document) for an id >= vocab_size.
  absl::Status AddDocument(absl::Span<const uint32_t> ids);

  // Finish(): writes the last shard and the index. Call once.
  absl::Status Finish();

  int64_t num_tokens() const { return num_tokens_; }
  int64_t num_docs() const { return int64_t(doc_offsets_.size()) - 1; }
  int64_t num_shards() const { return int64_t(shard_tokens_.size()); }
  const std::string& dir() const { return dir_; }

 private:
  DatasetWriter(std::string dir, uint64_t vocab_size, uint32_t eos_id, int64_t capacity);
  void Push(uint32_t id);
  absl::Status FlushShard();

  std::string dir_;
  IndexHeader header_;
  int64_t capacity_;
  std::vector<uint8_t> buffer_;   // current shard payload
  int64_t buffered_ = 0;          // tokens in buffer_
  int64_t num_tokens_ = 0;
  std::vector<uint64_t> doc_offsets_{0};
  std::vector<uint64_t> shard_tokens_;
  std::vector<uint32_t> shard_crcs_;
  bool finished_ = false;
};

}  // namespace hs::data::dataset

#endif  // DATA_DATASET_WRITER_H_
