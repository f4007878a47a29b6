// File: data/tokenizer/bpe_model.cc
#include "data/tokenizer/bpe_model.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <queue>

#include "absl/strings/str_cat.h"
#include "data/tokenizer/byte_level.h"

namespace hs::data {
namespace {

constexpr uint64_t kNoMerge = std::numeric_limits<uint64_t>::max();
// Pieces up to this many bytes are cached; longer ones (rare: long runs of
// spaces or symbols) are merged every time.
constexpr size_t kMaxCachedPieceBytes = 64;
constexpr size_t kMaxCacheEntries = 1 << 18;
// Up to this many symbols the merge loop rescans a rank array (fast for
// short pieces); longer pieces use a priority queue.
constexpr size_t kLongPieceSymbols = 96;

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

// Per-thread cache of piece -> ids for one model at a time.
struct PieceCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<uint32_t>, StringViewHash, std::equal_to<>> map;
};

PieceCache& ThreadCache(uint64_t owner) {
  thread_local PieceCache cache;
  if (cache.owner != owner || cache.map.size() >= kMaxCacheEntries) {
    cache.map.clear();
    cache.owner = owner;
  }
  return cache;
}

std::atomic<uint64_t> next_instance{1};

constexpr uint64_t kMaxUnusedIds = 1 << 20;

}  // namespace

void BpeModel::MergeTable::Reserve(size_t n) {
  size_t capacity = 16;
  shift = 60;
  while (capacity < 2 * n + 2) capacity <<= 1, --shift;
  keys.assign(capacity, kEmpty);
  values.assign(capacity, 0);
  mask = capacity - 1;
}

void BpeModel::MergeTable::Insert(uint64_t key, uint64_t value) {
  uint64_t slot = (key * 0x9E3779B97F4A7C15ull) >> shift;
  while (keys[slot] != kEmpty && keys[slot] != key) slot = (slot + 1) & mask;
  keys[slot] = key;
  values[slot] = value;
}

const uint64_t* BpeModel::MergeTable::Find(uint64_t key) const {
  uint64_t slot = (key * 0x9E3779B97F4A7C15ull) >> shift;
  while (true) {
    if (keys[slot] == key) return &values[slot];
    if (keys[slot] == kEmpty) return nullptr;
    slot = (slot + 1) & mask;
  }
}

absl::StatusOr<BpeModel> BpeModel::Create(
    std::vector<std::pair<std::string, uint32_t>> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges,
    BpeModelOptions options) {
  BpeModel model;
  model.options_ = std::move(options);
  model.instance_ = next_instance.fetch_add(1);
  uint32_t limit = 0;
  for (const auto& [spelling, id] : vocab) limit = std::max(limit, id + 1);
  // Ids index tables here and embedding rows in a model: they must be
  // (nearly) dense, which every real vocabulary is.
  if (uint64_t(limit) > uint64_t(vocab.size()) + kMaxUnusedIds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.vocab: the largest id is ", limit - 1, " for ", vocab.size(),
        " tokens (more than ", kMaxUnusedIds, " ids unused)"));
  }
  model.spelling_.resize(limit);
  model.bytes_.resize(limit);
  model.has_id_.assign(limit, false);
  for (auto& [spelling, id] : vocab) {
    if (model.has_id_[id]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.vocab: id ", id, " is used by both \"", model.spelling_[id],
          "\" and \"", spelling, "\""));
    }
    if (!model.spelling_to_id_.emplace(spelling, id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.vocab: token \"", spelling, "\" appears twice"));
    }
    model.has_id_[id] = true;
    // Tokens spelled outside the byte map stand for their UTF-8 text, as
    // the ByteLevel decoder of `tokenizers` treats them.
    std::optional<std::string> raw = byte_level::Decode(spelling);
    model.bytes_[id] = raw ? *raw : spelling;
    if (raw) model.bytes_to_id_.emplace(*raw, id);
    model.spelling_[id] = std::move(spelling);
  }
  for (int b = 0; b < 256; ++b) {
    std::string spelling;
    byte_level::AppendUtf8(byte_level::ByteToChar((unsigned char)b), &spelling);
    auto it = model.spelling_to_id_.find(spelling);
    model.byte_id_[b] = it == model.spelling_to_id_.end() ? -1 : int64_t(it->second);
  }
  if (model.options_.unk_token) {
    auto it = model.spelling_to_id_.find(*model.options_.unk_token);
    if (it == model.spelling_to_id_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.unk_token: \"", *model.options_.unk_token, "\" is not in the vocab"));
    }
    model.unk_id_ = it->second;
  }
  model.merges_.Reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto find = [&](const std::string& s) -> absl::StatusOr<uint32_t> {
      auto it = model.spelling_to_id_.find(s);
      if (it == model.spelling_to_id_.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "model.merges[", rank, "]: \"", s, "\" is not in the vocab"));
      }
      return it->second;
    };
    absl::StatusOr<uint32_t> a = find(left);
    if (!a.ok()) return a.status();
    absl::StatusOr<uint32_t> b = find(right);
    if (!b.ok()) return b.status();
    absl::StatusOr<uint32_t> merged = find(left + right);
    if (!merged.ok()) return merged.status();
    const uint64_t key = (uint64_t(*a) << 32) | *b;
    // A repeated pair keeps its first (lowest) rank.
    if (model.merges_.Find(key) == nullptr) {
      model.merges_.Insert(key, (uint64_t(rank) << 32) | *merged);
    }
  }
  model.merge_count_ = merges.size();
  return model;
}

std::optional<uint32_t> BpeModel::TokenId(std::string_view spelling) const {
  auto it = spelling_to_id_.find(std::string(spelling));
  if (it == spelling_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string& BpeModel::Spelling(uint32_t id) const {
  static const std::string empty;
  return Contains(id) ? spelling_[id] : empty;
}

const std::string& BpeModel::Bytes(uint32_t id) const {
  static const std::string empty;
  return Contains(id) ? bytes_[id] : empty;
}

uint64_t BpeModel::PairRank(uint32_t left, uint32_t right, uint32_t* merged) const {
  const uint64_t* value = merges_.Find((uint64_t(left) << 32) | right);
  if (value == nullptr) return kNoMerge;
  *merged = uint32_t(*value);
  return *value >> 32;
}

void BpeModel::MergeSymbols(std::vector<uint32_t>* symbols) const {
  std::vector<uint32_t>& s = *symbols;
  if (s.size() < 2) return;
  if (s.size() > kLongPieceSymbols) {
    MergeSymbolsLong(symbols);
    return;
  }
  // ranks[i], merged[i]: the merge of the pair (s[i], s[i+1]).
  uint64_t ranks[kLongPieceSymbols];
  uint32_t merged[kLongPieceSymbols];
  size_t n = s.size();
  for (size_t i = 0; i + 1 < n; ++i) ranks[i] = PairRank(s[i], s[i + 1], &merged[i]);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i) {
      if (ranks[i] < ranks[best]) best = i;
    }
    if (ranks[best] == kNoMerge) break;
    s[best] = merged[best];
    for (size_t i = best + 1; i + 1 < n; ++i) {
      s[i] = s[i + 1];
      ranks[i] = ranks[i + 1];
      merged[i] = merged[i + 1];
    }
    --n;
    if (best > 0) ranks[best - 1] = PairRank(s[best - 1], s[best], &merged[best - 1]);
    if (best + 1 < n) ranks[best] = PairRank(s[best], s[best + 1], &merged[best]);
  }
  s.resize(n);
}

void BpeModel::MergeSymbolsLong(std::vector<uint32_t>* symbols) const {
  // Doubly linked symbols; a queue of candidate merges ordered by (rank,
  // position). Entries made stale by earlier merges are skipped on pop.
  std::vector<uint32_t>& s = *symbols;
  const int n = int(s.size());
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
  struct Candidate {
    uint64_t rank;
    int pos;
    uint32_t merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    uint32_t merged;
    const uint64_t rank = PairRank(s[pos], s[next[pos]], &merged);
    if (rank != kNoMerge) queue.push({rank, pos, merged});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const int right = next[top.pos];
    uint32_t merged;
    if (PairRank(s[top.pos], s[right], &merged) != top.rank || merged != top.merged) {
      continue;  // stale: one side changed since this entry was queued
    }
    s[top.pos] = merged;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    push(prev[top.pos]);
    push(top.pos);
  }
  size_t out = 0;
  for (int i = 0; i < n; ++i) {
    if (alive[i]) s[out++] = s[i];
  }
  s.resize(out);
}

void BpeModel::EncodePiece(std::string_view bytes, std::vector<uint32_t>* out) const {
  if (bytes.empty()) return;
  if (options_.ignore_merges) {
    auto it = bytes_to_id_.find(std::string(bytes));
    if (it != bytes_to_id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  const bool cacheable = bytes.size() <= kMaxCachedPieceBytes;
  PieceCache* cache = nullptr;
  if (cacheable) {
    cache = &ThreadCache(instance_);
    auto it = cache->map.find(bytes);
    if (it != cache->map.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  thread_local std::vector<uint32_t> symbols;
  symbols.clear();
  bool previous_unk = false;
  for (unsigned char b : bytes) {
    const int64_t id = byte_id_[b];
    if (id >= 0) {
      symbols.push_back(uint32_t(id));
      previous_unk = false;
    } else if (unk_id_ >= 0) {
      if (!(previous_unk && options_.fuse_unk)) symbols.push_back(uint32_t(unk_id_));
      previous_unk = true;
    }
  }
  MergeSymbols(&symbols);
  out->insert(out->end(), symbols.begin(), symbols.end());
  if (cacheable) cache->map.emplace(std::string(bytes), symbols);
}

}  // namespace hs::data
