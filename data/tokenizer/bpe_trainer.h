// File: data/tokenizer/bpe_trainer.h
//
// Trains a byte-level BPE tokenizer on text: the standard pair-count
// algorithm (count every adjacent symbol pair over the pre-tokenized words,
// merge the most frequent, update only the counts the merge touched), with
// word counting spread over threads. The result is deterministic: the same
// texts and options give the same tokenizer.json whatever the thread count
// (ties between equally frequent pairs go to the pair with the smallest ids).
//
// Usage:
//   hs::data::BpeTrainOptions options;
//   options.vocab_size = 8192;
//   options.pre_tokenizer = hs::data::PreTokenizerStyle::kDeepSeek;
//   options.special_tokens = {"<|eos|>"};
//   HS_ASSIGN_OR_RETURN(hs::data::Tokenizer tok,
//                       hs::data::TrainBpe(texts, options));
//   HS_RETURN_IF_ERROR(tok.SaveFile("tokenizer.json"));
#ifndef DATA_TOKENIZER_BPE_TRAINER_H_
#define DATA_TOKENIZER_BPE_TRAINER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "data/tokenizer/tokenizer.h"

namespace hs::data {

enum class PreTokenizerStyle {
  kGpt2,      // ByteLevel with the GPT-2 regex
  kDeepSeek,  // Sequence[Split(...)..., ByteLevel(use_regex=false)]
};

struct BpeTrainOptions {
  // Total vocabulary: 256 byte tokens + merges + special tokens.
  int vocab_size = 8192;
  PreTokenizerStyle pre_tokenizer = PreTokenizerStyle::kGpt2;
  // Added as special tokens with the first ids (0, 1, ...), before the bytes.
  std::vector<std::string> special_tokens;
  // Pairs seen fewer times are never merged.
  int64_t min_frequency = 2;
  // Threads for counting (0: all hardware threads).
  int threads = 0;
};

// TrainBpe(texts, options): each text is one document; special tokens in
// the texts are not learned from.
absl::StatusOr<Tokenizer> TrainBpe(absl::Span<const std::string_view> texts,
                                   const BpeTrainOptions& options);

// ParsePreTokenizerStyle("gpt2" | "deepseek").
absl::StatusOr<PreTokenizerStyle> ParsePreTokenizerStyle(std::string_view name);

}  // namespace hs::data

#endif  // DATA_TOKENIZER_BPE_TRAINER_H_
