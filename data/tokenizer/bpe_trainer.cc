// File: data/tokenizer/bpe_trainer.cc
#include "data/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/tokenizer/added_token_matcher.h"
#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/pre_tokenizer.h"
#include "data/tokenizer/tokenizer_impl.h"

namespace hs::data {
namespace {

using Json = nlohmann::ordered_json;
using WordCounts = std::unordered_map<std::string, int64_t>;

// Texts are cut into chunks of about this size for the counting threads.
// Cuts fall after a newline followed by a non-space character, where no
// pre-tokenizer piece continues, and depend only on the text, so the result
// does not depend on the thread count.
constexpr size_t kChunkBytes = 1 << 20;

std::vector<std::string_view> Chunk(absl::Span<const std::string_view> texts) {
  std::vector<std::string_view> chunks;
  for (std::string_view text : texts) {
    while (text.size() > kChunkBytes) {
      size_t cut = std::string_view::npos;
      for (size_t i = kChunkBytes; i + 1 < text.size(); ++i) {
        if (text[i] == '\n' && text[i + 1] != ' ' && text[i + 1] != '\n' &&
            text[i + 1] != '\t' && text[i + 1] != '\r') {
          cut = i + 1;
          break;
        }
      }
      if (cut == std::string_view::npos) break;
      chunks.push_back(text.substr(0, cut));
      text.remove_prefix(cut);
    }
    if (!text.empty()) chunks.push_back(text);
  }
  return chunks;
}

int ResolveThreads(int threads) {
  return threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
}

// CountWords: pre-tokenized pieces and their counts over all texts (special
// tokens cut out), on `threads` threads.
WordCounts CountWords(absl::Span<const std::string_view> texts, const PreTokenizer& pre,
                      const AddedTokenMatcher& specials, int threads) {
  const std::vector<std::string_view> chunks = Chunk(texts);
  threads = std::max(1, std::min<int>(threads, int(chunks.size())));
  std::vector<WordCounts> local(static_cast<size_t>(threads));
  auto work = [&](int t) {
    WordCounts& counts = local[size_t(t)];
    auto count_text = [&](std::string_view segment) {
      pre.ForEachPiece(segment, [&](std::string_view piece) {
        auto it = counts.find(std::string(piece));
        if (it == counts.end()) {
          counts.emplace(std::string(piece), 1);
        } else {
          ++it->second;
        }
      });
    };
    for (size_t c = size_t(t); c < chunks.size(); c += size_t(threads)) {
      specials.Split(chunks[c], /*skip_special=*/false, count_text, [](uint32_t) {});
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (std::thread& th : pool) th.join();
  WordCounts total = std::move(local[0]);
  for (size_t t = 1; t < local.size(); ++t) {
    for (auto& [word, n] : local[t]) total[word] += n;
  }
  return total;
}

inline uint64_t PairKey(uint32_t a, uint32_t b) { return (uint64_t(a) << 32) | b; }

// The merge loop over distinct words with their counts.
class PairMerger {
 public:
  PairMerger(std::vector<std::vector<uint32_t>> words, std::vector<int64_t> counts,
             int threads)
      : words_(std::move(words)), counts_(std::move(counts)) {
    CountPairs(threads);
  }

  // Next(min_count, &a, &b): the most frequent pair (ties: smallest ids);
  // false when none is seen at least min_count times.
  bool Next(int64_t min_count, uint32_t* a, uint32_t* b) {
    while (!queue_.empty()) {
      const auto [count, neg_key] = queue_.top();
      queue_.pop();
      const uint64_t key = ~neg_key;
      auto it = pair_counts_.find(key);
      const int64_t current = it == pair_counts_.end() ? 0 : it->second;
      if (current != count) {
        // Occurrences were used up by earlier merges: requeue at the
        // current count (counts of old pairs only go down).
        if (current > 0) queue_.push({current, neg_key});
        continue;
      }
      if (count < min_count) return false;
      *a = uint32_t(key >> 32);
      *b = uint32_t(key);
      return true;
    }
    return false;
  }

  // Apply(a, b, merged): replaces every (a, b) by `merged` and updates the
  // pair counts of the words that changed.
  void Apply(uint32_t a, uint32_t b, uint32_t merged) {
    const uint64_t key = PairKey(a, b);
    auto where_it = where_.find(key);
    if (where_it == where_.end()) return;
    const std::vector<uint32_t> word_ids = std::move(where_it->second);
    where_.erase(where_it);
    std::vector<uint64_t> new_pairs;
    for (uint32_t w : word_ids) {
      std::vector<uint32_t>& word = words_[w];
      bool found = false;
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        if (word[i] == a && word[i + 1] == b) found = true;
      }
      if (!found) continue;  // an earlier merge already took them
      const int64_t n = counts_[w];
      for (size_t i = 0; i + 1 < word.size(); ++i) pair_counts_[PairKey(word[i], word[i + 1])] -= n;
      size_t out = 0;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == a && word[i + 1] == b) {
          word[out++] = merged;
          ++i;
        } else {
          word[out++] = word[i];
        }
      }
      word.resize(out);
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        const uint64_t p = PairKey(word[i], word[i + 1]);
        pair_counts_[p] += n;
        if (word[i] == merged || word[i + 1] == merged) {
          std::vector<uint32_t>& list = where_[p];
          if (list.empty() || list.back() != w) list.push_back(w);
          new_pairs.push_back(p);
        }
      }
    }
    std::sort(new_pairs.begin(), new_pairs.end());
    new_pairs.erase(std::unique(new_pairs.begin(), new_pairs.end()), new_pairs.end());
    for (uint64_t p : new_pairs) {
      const int64_t c = pair_counts_[p];
      if (c > 0) queue_.push({c, ~p});
    }
  }

 private:
  void CountPairs(int threads) {
    threads = std::max(1, std::min<int>(threads, int(words_.size() / 1024 + 1)));
    std::vector<std::unordered_map<uint64_t, int64_t>> local(static_cast<size_t>(threads));
    auto work = [&](int t) {
      for (size_t w = size_t(t); w < words_.size(); w += size_t(threads)) {
        const std::vector<uint32_t>& word = words_[w];
        for (size_t i = 0; i + 1 < word.size(); ++i) {
          local[size_t(t)][PairKey(word[i], word[i + 1])] += counts_[w];
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (std::thread& th : pool) th.join();
    for (auto& counts : local) {
      for (auto& [p, c] : counts) pair_counts_[p] += c;
    }
    for (size_t w = 0; w < words_.size(); ++w) {
      const std::vector<uint32_t>& word = words_[w];
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        std::vector<uint32_t>& list = where_[PairKey(word[i], word[i + 1])];
        if (list.empty() || list.back() != uint32_t(w)) list.push_back(uint32_t(w));
      }
    }
    for (auto& [p, c] : pair_counts_) queue_.push({c, ~p});
  }

  std::vector<std::vector<uint32_t>> words_;
  std::vector<int64_t> counts_;
  std::unordered_map<uint64_t, int64_t> pair_counts_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where_;
  // (count, ~key): the largest count first, then the smallest key.
  std::priority_queue<std::pair<int64_t, uint64_t>> queue_;
};

bool IsValidUtf8(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    if (!byte_level::NextCodePoint(s, &pos)) return false;
  }
  return true;
}

Json PreTokenizerJson(PreTokenizerStyle style) {
  Json byte_level = {{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", true},
                     {"use_regex", style == PreTokenizerStyle::kGpt2}};
  if (style == PreTokenizerStyle::kGpt2) return byte_level;
  Json steps = Json::array();
  for (const std::string& pattern : DeepSeekSplitPatterns()) {
    steps.push_back({{"type", "Split"},
                     {"pattern", {{"Regex", pattern}}},
                     {"behavior", "Isolated"},
                     {"invert", false}});
  }
  steps.push_back(byte_level);
  return {{"type", "Sequence"}, {"pretokenizers", steps}};
}

}  // namespace

absl::StatusOr<PreTokenizerStyle> ParsePreTokenizerStyle(std::string_view name) {
  if (name == "gpt2") return PreTokenizerStyle::kGpt2;
  if (name == "deepseek") return PreTokenizerStyle::kDeepSeek;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown pre-tokenizer \"", std::string(name), "\" (expected gpt2 or deepseek)"));
}

absl::StatusOr<Tokenizer> TrainBpe(absl::Span<const std::string_view> texts,
                                   const BpeTrainOptions& options) {
  const int num_special = int(options.special_tokens.size());
  if (options.vocab_size < 256 + num_special) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocab size ", options.vocab_size, " is below the 256 byte tokens + ",
        num_special, " special tokens"));
  }
  std::vector<AddedToken> specials;
  for (const std::string& s : options.special_tokens) {
    if (s.empty() || !IsValidUtf8(s)) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token \"", s, "\" must be non-empty UTF-8"));
    }
    for (const AddedToken& t : specials) {
      if (t.content == s) {
        return absl::InvalidArgumentError(absl::StrCat("special token \"", s, "\" given twice"));
      }
    }
    AddedToken t;
    t.id = uint32_t(specials.size());
    t.content = s;
    t.special = true;
    specials.push_back(t);
  }
  std::vector<const AddedToken*> special_ptrs;
  for (const AddedToken& t : specials) special_ptrs.push_back(&t);
  const AddedTokenMatcher special_matcher(special_ptrs);
  const PreTokenizer pre = options.pre_tokenizer == PreTokenizerStyle::kGpt2
                               ? PreTokenizer::Gpt2()
                               : PreTokenizer::DeepSeek();
  const int threads = ResolveThreads(options.threads);

  // Distinct words in byte order, so ids do not depend on hash order.
  WordCounts counted = CountWords(texts, pre, special_matcher, threads);
  std::vector<std::pair<std::string, int64_t>> sorted(counted.begin(), counted.end());
  counted.clear();
  std::sort(sorted.begin(), sorted.end());

  // Ids: special tokens, then the 256 bytes in byte order, then merges.
  std::vector<std::string> spelling;
  for (const AddedToken& t : specials) spelling.push_back(t.content);
  const uint32_t first_byte = uint32_t(spelling.size());
  for (int b = 0; b < 256; ++b) {
    spelling.push_back(byte_level::Encode(std::string_view(reinterpret_cast<const char*>(&b), 1)));
  }
  std::vector<std::vector<uint32_t>> words;
  std::vector<int64_t> word_counts;
  words.reserve(sorted.size());
  for (auto& [word, n] : sorted) {
    std::vector<uint32_t> symbols;
    for (unsigned char c : word) symbols.push_back(first_byte + c);
    words.push_back(std::move(symbols));
    word_counts.push_back(n);
  }
  sorted.clear();

  PairMerger merger(std::move(words), std::move(word_counts), threads);
  std::vector<std::pair<uint32_t, uint32_t>> merges;
  const int64_t min_count = std::max<int64_t>(1, options.min_frequency);
  uint32_t a, b;
  while (int(spelling.size()) < options.vocab_size && merger.Next(min_count, &a, &b)) {
    const uint32_t merged = uint32_t(spelling.size());
    spelling.push_back(spelling[a] + spelling[b]);
    merges.emplace_back(a, b);
    merger.Apply(a, b, merged);
  }

  // Two merges may spell the same token (different splits of one string);
  // tokenizer.json maps a spelling to one id, so later duplicates reuse the
  // first id.
  Json vocab = Json::object();
  std::unordered_map<std::string, uint32_t> id_of;
  std::vector<uint32_t> final_id(spelling.size());
  uint32_t next_id = 0;
  for (size_t i = 0; i < spelling.size(); ++i) {
    auto [it, inserted] = id_of.emplace(spelling[i], next_id);
    if (inserted) {
      vocab[spelling[i]] = next_id++;
    }
    final_id[i] = it->second;
  }
  Json merge_list = Json::array();
  for (const auto& [left, right] : merges) {
    merge_list.push_back(Json::array({spelling[left], spelling[right]}));
  }
  Json added = Json::array();
  for (const AddedToken& t : specials) {
    added.push_back({{"id", t.id},
                     {"content", t.content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  Json document = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", PreTokenizerJson(options.pre_tokenizer)},
      {"post_processor", nullptr},
      {"decoder",
       {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true},
        {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merge_list}}},
  };
  absl::StatusOr<std::unique_ptr<Tokenizer::Impl>> impl =
      BuildImpl(std::move(document), "trained tokenizer");
  if (!impl.ok()) return impl.status();
  return Tokenizer(std::move(*impl));
}

}  // namespace hs::data
