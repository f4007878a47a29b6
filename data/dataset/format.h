// File: data/dataset/format.h
//
// On-disk layout of a prepared dataset: one directory per split, holding
// token shards and one index, all little-endian.
//
//   DIR/index.hds          written last: a directory without it is not a dataset
//     header  (64 bytes)   magic "HAIDSIDX", u32 version, u32 token_bytes (2|4),
//                          u64 vocab_size, u64 num_tokens, u64 num_docs,
//                          u32 num_shards, u32 eos_id, u64 shard_capacity
//                          (tokens per full shard), 8 reserved bytes
//     shards  (16 bytes each)  u64 tokens, u32 crc32c(payload), u32 reserved
//     docs    (8 bytes each, num_docs + 1)  token offset of each document start,
//                          then num_tokens: document d is [off[d], off[d+1])
//     trailer (4 bytes)    crc32c of everything above
//   DIR/shard-00000.bin, shard-00001.bin, ...
//     header  (32 bytes)   magic "HAIDSSHD", u32 version, u32 token_bytes,
//                          u64 num_tokens, u32 shard index, 4 reserved bytes
//     payload              num_tokens ids of token_bytes each
//
// The token stream is the concatenation of the shards; every document ends
// with eos_id; documents may continue across a shard boundary (shards are
// cut every shard_capacity tokens, so shard s starts at s * shard_capacity).
#ifndef DATA_DATASET_FORMAT_H_
#define DATA_DATASET_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hs::data::dataset {

inline constexpr char kIndexMagic[8] = {'H', 'A', 'I', 'D', 'S', 'I', 'D', 'X'};
inline constexpr char kShardMagic[8] = {'H', 'A', 'I', 'D', 'S', 'S', 'H', 'D'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr int64_t kIndexHeaderBytes = 64;
inline constexpr int64_t kIndexShardEntryBytes = 16;
inline constexpr int64_t kShardHeaderBytes = 32;
inline constexpr char kIndexFileName[] = "index.hds";

// IndexHeader: the fixed part of index.hds.
struct IndexHeader {
  uint32_t version = kFormatVersion;
  uint32_t token_bytes = 4;
  uint64_t vocab_size = 0;
  uint64_t num_tokens = 0;
  uint64_t num_docs = 0;
  uint32_t num_shards = 0;
  uint32_t eos_id = 0;
  uint64_t shard_capacity = 0;
};

// ShardHeader: the fixed part of a shard file.
struct ShardHeader {
  uint32_t version = kFormatVersion;
  uint32_t token_bytes = 4;
  uint64_t num_tokens = 0;
  uint32_t index = 0;
};

// TokenBytesFor(vocab_size): 2 when every id fits in uint16, else 4.
inline uint32_t TokenBytesFor(uint64_t vocab_size) {
  return vocab_size <= 65536 ? 2 : 4;
}

// ShardFileName(s): "shard-00007.bin".
std::string ShardFileName(int64_t shard);

std::string EncodeIndexHeader(const IndexHeader& h);
std::string EncodeShardHeader(const ShardHeader& h);

// DecodeIndexHeader / DecodeShardHeader(bytes, file): parse and check magic,
// version and token size; errors name `file` and the byte offset of the
// bad field. `bytes` must hold the whole fixed header.
absl::StatusOr<IndexHeader> DecodeIndexHeader(absl::string_view bytes,
                                              const std::string& file);
absl::StatusOr<ShardHeader> DecodeShardHeader(absl::string_view bytes,
                                              const std::string& file);

// Little-endian field access shared by the reader and writer.
void PutU32(std::string* out, uint32_t v);
void PutU64(std::string* out, uint64_t v);
uint32_t GetU32(const char* p);
uint64_t GetU64(const char* p);

}  // namespace hs::data::dataset

#endif  // DATA_DATASET_FORMAT_H_
