// File: data/tokenizer/bpe_model.h
//
// The BPE model of a byte-level tokenizer: vocabulary (token spelling <->
// id), the ranked merge list, and the merge loop that turns one
// pre-tokenized piece of raw bytes into ids. The merge order is that of
// `tokenizers`: repeatedly apply the lowest-ranked merge present in the
// piece, leftmost first. Results of short pieces are cached per thread.
#ifndef DATA_TOKENIZER_BPE_MODEL_H_
#define DATA_TOKENIZER_BPE_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace hs::data {

struct BpeModelOptions {
  // A piece whose whole spelling is a vocab token becomes that token
  // without running the merges (`tokenizers`' ignore_merges).
  bool ignore_merges = false;
  // Bytes without a vocab token become this token (nullopt: dropped, as
  // `tokenizers` does without an unk_token); fuse_unk joins adjacent ones.
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
};

class BpeModel {
 public:
  // Create(vocab, merges, options): vocab maps token spellings (byte-level
  // text) to ids; merges are spelling pairs, rank = position. Errors name
  // the offending entry ("merges[12]: \"ab\" is not in the vocab").
  static absl::StatusOr<BpeModel> Create(
      std::vector<std::pair<std::string, uint32_t>> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges,
      BpeModelOptions options);

  // EncodePiece(bytes, out): appends the ids of one pre-tokenized piece.
  void EncodePiece(std::string_view bytes, std::vector<uint32_t>* out) const;

  std::optional<uint32_t> TokenId(std::string_view spelling) const;
  // Spelling(id) / Bytes(id): "" for ids not in the vocab.
  const std::string& Spelling(uint32_t id) const;
  const std::string& Bytes(uint32_t id) const;
  bool Contains(uint32_t id) const {
    return id < has_id_.size() && has_id_[id];
  }
  // id_limit(): 1 + the largest vocab id.
  uint32_t id_limit() const { return uint32_t(has_id_.size()); }
  size_t num_merges() const { return merge_count_; }
  const BpeModelOptions& options() const { return options_; }

 private:
  struct MergeTable {
    // Open addressing; key = left << 32 | right, value = rank << 32 | id.
    std::vector<uint64_t> keys, values;
    uint64_t mask = 0;
    int shift = 64;
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    void Reserve(size_t n);
    void Insert(uint64_t key, uint64_t value);
    const uint64_t* Find(uint64_t key) const;
  };

  void MergeSymbols(std::vector<uint32_t>* symbols) const;
  void MergeSymbolsLong(std::vector<uint32_t>* symbols) const;
  uint64_t PairRank(uint32_t left, uint32_t right, uint32_t* merged) const;

  BpeModelOptions options_;
  std::unordered_map<std::string, uint32_t> spelling_to_id_;
  // For ignore_merges: raw bytes of each token -> id.
  std::unordered_map<std::string, uint32_t> bytes_to_id_;
  std::vector<std::string> spelling_;  // by id
  std::vector<std::string> bytes_;     // by id
  std::vector<bool> has_id_;
  int64_t byte_id_[256];  // -1: the byte has no token
  int64_t unk_id_ = -1;
  MergeTable merges_;
  size_t merge_count_ = 0;
  uint64_t instance_ = 0;  // identifies this model in the per-thread caches
};

}  // namespace hs::data

#endif  // DATA_TOKENIZER_BPE_MODEL_H_
