// File: data/dataset/format.cc — prepared-dataset headers, see format.h.
#include "data/dataset/format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hs::data::dataset {
namespace {

absl::Status BadField(const std::string& file, int64_t offset, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("prepared dataset ", file, ": byte ", offset, ": ", what));
}

// CheckCommon: magic at 0, version at 8, token_bytes at 12.
absl::Status CheckCommon(absl::string_view bytes, const char (&magic)[8],
                         const std::string& file, int64_t need) {
  if (int64_t(bytes.size()) < need) {
    return absl::DataLossError(absl::StrCat("prepared dataset ", file, ": ", bytes.size(),
                                            " bytes is shorter than its ", need,
                                            "-byte header (truncated file)"));
  }
  if (std::memcmp(bytes.data(), magic, 8) != 0) {
    return BadField(file, 0,
                    absl::StrCat("bad magic (expected \"", absl::string_view(magic, 8),
                                 "\"): not a prepared-dataset file of this kind"));
  }
  const uint32_t version = GetU32(bytes.data() + 8);
  if (version != kFormatVersion) {
    return BadField(file, 8,
                    absl::StrCat("format version ", version, " is not supported (this build reads ",
                                 kFormatVersion, ")"));
  }
  const uint32_t tb = GetU32(bytes.data() + 12);
  if (tb != 2 && tb != 4) {
    return BadField(file, 12, absl::StrCat("token size ", tb, " bytes (expected 2 or 4)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ShardFileName(int64_t shard) {
  return absl::StrFormat("shard-%05d.bin", shard);
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(char((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(char((v >> (8 * i)) & 0xff));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
  return v;
}

std::string EncodeIndexHeader(const IndexHeader& h) {
  std::string out(kIndexMagic, 8);
  PutU32(&out, h.version);
  PutU32(&out, h.token_bytes);
  PutU64(&out, h.vocab_size);
  PutU64(&out, h.num_tokens);
  PutU64(&out, h.num_docs);
  PutU32(&out, h.num_shards);
  PutU32(&out, h.eos_id);
  PutU64(&out, h.shard_capacity);
  out.resize(kIndexHeaderBytes, '\0');
  return out;
}

std::string EncodeShardHeader(const ShardHeader& h) {
  std::string out(kShardMagic, 8);
  PutU32(&out, h.version);
  PutU32(&out, h.token_bytes);
  PutU64(&out, h.num_tokens);
  PutU32(&out, h.index);
  out.resize(kShardHeaderBytes, '\0');
  return out;
}

absl::StatusOr<IndexHeader> DecodeIndexHeader(absl::string_view bytes, const std::string& file) {
  if (absl::Status s = CheckCommon(bytes, kIndexMagic, file, kIndexHeaderBytes); !s.ok()) {
    return s;
  }
  const char* p = bytes.data();
  IndexHeader h;
  h.version = GetU32(p + 8);
  h.token_bytes = GetU32(p + 12);
  h.vocab_size = GetU64(p + 16);
  h.num_tokens = GetU64(p + 24);
  h.num_docs = GetU64(p + 32);
  h.num_shards = GetU32(p + 40);
  h.eos_id = GetU32(p + 44);
  h.shard_capacity = GetU64(p + 48);
  if (h.vocab_size == 0 || h.vocab_size > (uint64_t(1) << 32)) {
    return BadField(file, 16, absl::StrCat("vocab_size ", h.vocab_size, " is out of range"));
  }
  if (h.token_bytes == 2 && h.vocab_size > 65536) {
    return BadField(file, 12, absl::StrCat("uint16 tokens cannot hold vocab_size ", h.vocab_size));
  }
  if (h.eos_id >= h.vocab_size) {
    return BadField(file, 44, absl::StrCat("eos id ", h.eos_id, " >= vocab_size ", h.vocab_size));
  }
  if (h.num_shards > 0 && h.shard_capacity == 0) {
    return BadField(file, 48, "shard capacity is 0");
  }
  return h;
}

absl::StatusOr<ShardHeader> DecodeShardHeader(absl::string_view bytes, const std::string& file) {
  if (absl::Status s = CheckCommon(bytes, kShardMagic, file, kShardHeaderBytes); !s.ok()) {
    return s;
  }
  const char* p = bytes.data();
  ShardHeader h;
  h.version = GetU32(p + 8);
  h.token_bytes = GetU32(p + 12);
  h.num_tokens = GetU64(p + 16);
  h.index = GetU32(p + 24);
  return h;
}

}  // namespace hs::data::dataset
