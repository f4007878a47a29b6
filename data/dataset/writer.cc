// File: data/dataset/writer.cc — streaming prepared-dataset writer, see writer.h.
#include "data/dataset/writer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "data/dataset/crc32c.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data::dataset {

absl::StatusOr<std::unique_ptr<DatasetWriter>> DatasetWriter::Create(const std::string& dir,
                                                                     uint64_t vocab_size,
                                                                     uint32_t eos_id,
                                                                     int64_t shard_bytes) {
  if (vocab_size == 0 || vocab_size > (uint64_t(1) << 32)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset ", dir, ": vocab_size ", vocab_size, " is out of range"));
  }
  if (eos_id >= vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("dataset ", dir, ": eos id ", eos_id,
                                                   " >= vocab_size ", vocab_size));
  }
  const int64_t capacity = shard_bytes / int64_t(TokenBytesFor(vocab_size));
  if (capacity < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset ", dir, ": shard size ", shard_bytes, " bytes holds no token"));
  }
  HS_RETURN_IF_ERROR(io::CreateDirectories(dir));
  return std::unique_ptr<DatasetWriter>(new DatasetWriter(dir, vocab_size, eos_id, capacity));
}

DatasetWriter::DatasetWriter(std::string dir, uint64_t vocab_size, uint32_t eos_id,
                             int64_t capacity)
    : dir_(std::move(dir)), capacity_(capacity) {
  header_.vocab_size = vocab_size;
  header_.eos_id = eos_id;
  header_.token_bytes = TokenBytesFor(vocab_size);
  header_.shard_capacity = uint64_t(capacity);
}

void DatasetWriter::Push(uint32_t id) {
  uint8_t* p = buffer_.data() + buffered_ * header_.token_bytes;
  for (uint32_t b = 0; b < header_.token_bytes; ++b) p[b] = uint8_t(id >> (8 * b));
  ++buffered_;
  ++num_tokens_;
}

absl::Status DatasetWriter::AddDocument(absl::Span<const uint32_t> ids) {
  if (finished_) return absl::FailedPreconditionError("DatasetWriter: already finished");
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= header_.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset ", dir_, ": document ", num_docs(), " token ", i, ": id ", ids[i],
                       " >= vocab_size ", header_.vocab_size));
    }
  }
  if (buffer_.empty()) buffer_.resize(size_t(capacity_) * header_.token_bytes);
  for (size_t i = 0; i <= ids.size(); ++i) {
    if (buffered_ == capacity_) HS_RETURN_IF_ERROR(FlushShard());
    Push(i < ids.size() ? ids[i] : header_.eos_id);
  }
  doc_offsets_.push_back(uint64_t(num_tokens_));
  return absl::OkStatus();
}

absl::Status DatasetWriter::FlushShard() {
  ShardHeader sh;
  sh.token_bytes = header_.token_bytes;
  sh.num_tokens = uint64_t(buffered_);
  sh.index = uint32_t(shard_tokens_.size());
  const std::string path = absl::StrCat(dir_, "/", ShardFileName(sh.index));
  const absl::string_view payload(reinterpret_cast<const char*>(buffer_.data()),
                                  size_t(buffered_) * header_.token_bytes);
  HS_ASSIGN_OR_RETURN(auto file, io::AtomicFileWriter::Create(path));
  HS_RETURN_IF_ERROR(file->Append(EncodeShardHeader(sh)));
  HS_RETURN_IF_ERROR(file->Append(payload));
  HS_RETURN_IF_ERROR(file->Commit());
  shard_tokens_.push_back(sh.num_tokens);
  shard_crcs_.push_back(Crc32cExtend(0, payload.data(), payload.size()));
  buffered_ = 0;
  return absl::OkStatus();
}

absl::Status DatasetWriter::Finish() {
  if (finished_) return absl::FailedPreconditionError("DatasetWriter: already finished");
  finished_ = true;
  if (buffered_ > 0) HS_RETURN_IF_ERROR(FlushShard());
  buffer_.clear();
  buffer_.shrink_to_fit();
  header_.num_tokens = uint64_t(num_tokens_);
  header_.num_docs = uint64_t(num_docs());
  header_.num_shards = uint32_t(shard_tokens_.size());
  std::string index = EncodeIndexHeader(header_);
  index.reserve(index.size() + shard_tokens_.size() * kIndexShardEntryBytes +
                doc_offsets_.size() * 8 + 4);
  for (size_t s = 0; s < shard_tokens_.size(); ++s) {
    PutU64(&index, shard_tokens_[s]);
    PutU32(&index, shard_crcs_[s]);
    PutU32(&index, 0);
  }
  for (uint64_t off : doc_offsets_) PutU64(&index, off);
  PutU32(&index, Crc32cExtend(0, index.data(), index.size()));
  return io::WriteFileAtomically(absl::StrCat(dir_, "/", kIndexFileName), index);
}

}  // namespace hs::data::dataset
