// File: data/tokenizer/pre_tokenizer.h
//
// Pre-tokenization: cuts a text into the pieces BPE runs on, with the
// semantics of `tokenizers`' Split, Digits and ByteLevel pre-tokenizers
// applied in sequence. Pieces are raw bytes here (the ByteLevel character
// map is applied by the BPE model's byte ids), so ByteLevel must be the last
// step. Steps run depth-first, so memory stays bounded for any text length.
//
// Usage:
//   PreTokenizer pre = PreTokenizer::Gpt2();
//   pre.ForEachPiece(text, [&](std::string_view piece) { ... });
#ifndef DATA_TOKENIZER_PRE_TOKENIZER_H_
#define DATA_TOKENIZER_PRE_TOKENIZER_H_

#include <memory>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "data/tokenizer/regex.h"

namespace hs::data {

// What a Split does with the pieces its pattern matches (`tokenizers`'
// SplitDelimiterBehavior).
enum class SplitBehavior {
  kIsolated,            // matches become pieces of their own
  kRemoved,             // matches are dropped
  kMergedWithPrevious,  // a match joins the piece before it
  kMergedWithNext,      // a match joins the piece after it
  kContiguous,          // consecutive matches (and non-matches) join
};

absl::StatusOr<SplitBehavior> ParseSplitBehavior(std::string_view name);

// The GPT-2 pattern of `tokenizers`' ByteLevel(use_regex=true).
inline constexpr std::string_view kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
    "\\s+(?!\\S)|\\s+";

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel };
  Kind kind = Kind::kSplit;
  // kSplit (also Digits): pattern, behavior, invert.
  std::shared_ptr<const Regex> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  // kByteLevel.
  bool add_prefix_space = false;
  bool use_regex = true;
};

class PreTokenizer {
 public:
  // Create(steps): checks the ByteLevel step is present and last.
  static absl::StatusOr<PreTokenizer> Create(std::vector<PreTokenizerStep> steps);
  // Gpt2(): ByteLevel(add_prefix_space=false, use_regex=true).
  static PreTokenizer Gpt2();
  // DeepSeek(): Split digits {1,3}, CJK runs, punctuation/letters/spaces,
  // then ByteLevel(use_regex=false), as DeepSeek's released tokenizers do.
  static PreTokenizer DeepSeek();

  // ForEachPiece(text, fn): fn(piece) for each non-empty piece, in order. A
  // piece views `text` or a temporary (a prefix space was added) that lives
  // only during the call.
  void ForEachPiece(std::string_view text,
                    absl::FunctionRef<void(std::string_view)> fn) const;

  const std::vector<PreTokenizerStep>& steps() const { return steps_; }

 private:
  void Run(size_t step, std::string_view piece,
           absl::FunctionRef<void(std::string_view)> fn) const;
  std::vector<PreTokenizerStep> steps_;
};

// The DeepSeek() Split patterns, in order (also written to tokenizer.json).
const std::vector<std::string>& DeepSeekSplitPatterns();

}  // namespace hs::data

#endif  // DATA_TOKENIZER_PRE_TOKENIZER_H_
