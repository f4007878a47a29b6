// File: data/tokenizer/pre_tokenizer.cc
#include "data/tokenizer/pre_tokenizer.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "haiscale/logging.h"

namespace hs::data {
namespace {

std::shared_ptr<const Regex> MustCompile(std::string_view pattern) {
  absl::StatusOr<std::unique_ptr<Regex>> re = Regex::Compile(pattern);
  HS_CHECK(re.ok()) << re.status().message();
  return std::shared_ptr<const Regex>(std::move(*re));
}

// SegmentSink: receives the pieces of one Split as a contiguous cover of
// the input, (begin, end, is_match), and emits the non-empty pieces its
// behavior keeps, joined as `tokenizers` joins them.
class SegmentSink {
 public:
  SegmentSink(std::string_view text, SplitBehavior behavior,
              absl::FunctionRef<void(std::string_view)> emit)
      : text_(text), behavior_(behavior), emit_(emit) {}

  void Add(size_t begin, size_t end, bool is_match) {
    switch (behavior_) {
      case SplitBehavior::kIsolated:
        Emit(begin, end);
        break;
      case SplitBehavior::kRemoved:
        if (!is_match) Emit(begin, end);
        break;
      case SplitBehavior::kContiguous:
        if (has_pending_ && is_match == previous_match_) {
          pending_end_ = end;
        } else {
          Flush();
          Hold(begin, end);
        }
        break;
      case SplitBehavior::kMergedWithPrevious:
        if (has_pending_ && is_match && !previous_match_) {
          pending_end_ = end;
        } else {
          Flush();
          Hold(begin, end);
        }
        break;
      case SplitBehavior::kMergedWithNext:
        // A held match takes the next piece when that one is not a match.
        if (has_pending_) {
          if (!is_match) {
            pending_end_ = end;
            Flush();
          } else {
            Flush();
            Hold(begin, end);
          }
        } else if (is_match) {
          Hold(begin, end);
        } else {
          Emit(begin, end);
        }
        break;
    }
    previous_match_ = is_match;
  }

  void Finish() { Flush(); }

 private:
  void Emit(size_t begin, size_t end) {
    if (end > begin) emit_(text_.substr(begin, end - begin));
  }
  void Hold(size_t begin, size_t end) {
    has_pending_ = true;
    pending_begin_ = begin;
    pending_end_ = end;
  }
  void Flush() {
    if (has_pending_) Emit(pending_begin_, pending_end_);
    has_pending_ = false;
  }

  std::string_view text_;
  SplitBehavior behavior_;
  absl::FunctionRef<void(std::string_view)> emit_;
  bool previous_match_ = false;
  bool has_pending_ = false;
  size_t pending_begin_ = 0, pending_end_ = 0;
};

void SplitByRegex(const Regex& regex, SplitBehavior behavior, bool invert,
                  std::string_view text,
                  absl::FunctionRef<void(std::string_view)> emit) {
  SegmentSink sink(text, behavior, emit);
  size_t previous = 0;
  regex.ForEachMatch(text, [&](size_t begin, size_t end) {
    if (previous != begin) sink.Add(previous, begin, invert);
    sink.Add(begin, end, !invert);
    previous = end;
  });
  if (previous != text.size()) sink.Add(previous, text.size(), invert);
  sink.Finish();
}

}  // namespace

absl::StatusOr<SplitBehavior> ParseSplitBehavior(std::string_view name) {
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported value \"", std::string(name),
      "\" (expected Isolated, Removed, MergedWithPrevious, MergedWithNext or "
      "Contiguous)"));
}

absl::StatusOr<PreTokenizer> PreTokenizer::Create(std::vector<PreTokenizerStep> steps) {
  if (steps.empty() || steps.back().kind != PreTokenizerStep::Kind::kByteLevel) {
    return absl::InvalidArgumentError(
        "a byte-level BPE needs a ByteLevel pre-tokenizer as the last step");
  }
  for (size_t i = 0; i + 1 < steps.size(); ++i) {
    if (steps[i].kind == PreTokenizerStep::Kind::kByteLevel) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ByteLevel must be the last pre-tokenizer step (found at step ", i, ")"));
    }
  }
  PreTokenizer pre;
  pre.steps_ = std::move(steps);
  return pre;
}

PreTokenizer PreTokenizer::Gpt2() {
  PreTokenizerStep step;
  step.kind = PreTokenizerStep::Kind::kByteLevel;
  step.add_prefix_space = false;
  step.use_regex = true;
  return *Create({step});
}

const std::vector<std::string>& DeepSeekSplitPatterns() {
  static const std::vector<std::string> patterns = {
      // Numbers in groups of at most three digits.
      "\\p{N}{1,3}",
      // Runs of CJK ideographs, hiragana and katakana.
      "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
      // A punctuation mark glued to the ASCII word after it; letter runs
      // with one optional leading non-letter; punctuation runs with the
      // newlines after them; newline runs; spaces.
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|"
      "[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|"
      "\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
  };
  return patterns;
}

PreTokenizer PreTokenizer::DeepSeek() {
  std::vector<PreTokenizerStep> steps;
  for (const std::string& pattern : DeepSeekSplitPatterns()) {
    PreTokenizerStep split;
    split.kind = PreTokenizerStep::Kind::kSplit;
    split.regex = MustCompile(pattern);
    split.behavior = SplitBehavior::kIsolated;
    steps.push_back(std::move(split));
  }
  PreTokenizerStep byte_level;
  byte_level.kind = PreTokenizerStep::Kind::kByteLevel;
  byte_level.add_prefix_space = false;
  byte_level.use_regex = false;
  steps.push_back(byte_level);
  return *Create(std::move(steps));
}

void PreTokenizer::ForEachPiece(std::string_view text,
                                absl::FunctionRef<void(std::string_view)> fn) const {
  if (!text.empty()) Run(0, text, fn);
}

void PreTokenizer::Run(size_t step_index, std::string_view piece,
                       absl::FunctionRef<void(std::string_view)> fn) const {
  const PreTokenizerStep& step = steps_[step_index];
  auto next = [&](std::string_view sub) {
    if (step_index + 1 == steps_.size()) {
      fn(sub);
    } else {
      Run(step_index + 1, sub, fn);
    }
  };
  if (step.kind == PreTokenizerStep::Kind::kSplit) {
    SplitByRegex(*step.regex, step.behavior, step.invert, piece, next);
    return;
  }
  // ByteLevel: an optional leading space, then the GPT-2 split.
  std::string with_space;
  if (step.add_prefix_space && piece.front() != ' ') {
    with_space.reserve(piece.size() + 1);
    with_space.push_back(' ');
    with_space.append(piece);
    piece = with_space;
  }
  if (!step.use_regex) {
    next(piece);
    return;
  }
  static const std::shared_ptr<const Regex> gpt2 = MustCompile(kGpt2Pattern);
  SplitByRegex(*gpt2, SplitBehavior::kIsolated, /*invert=*/false, piece, next);
}

}  // namespace hs::data
