// File: data/tokenizer/tokenizer_impl.h
//
// Internal: the parsed parts of a tokenizer.json behind Tokenizer. Only
// data/tokenizer/ includes this.
#ifndef DATA_TOKENIZER_TOKENIZER_IMPL_H_
#define DATA_TOKENIZER_TOKENIZER_IMPL_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/tokenizer/added_token_matcher.h"
#include "data/tokenizer/bpe_model.h"
#include "data/tokenizer/normalizer.h"
#include "data/tokenizer/pre_tokenizer.h"
#include "data/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace hs::data {

struct Tokenizer::Impl {
  // The whole tokenizer.json as read (or built by the trainer): SaveFile
  // writes it back, so fields hai does not use survive a load/save.
  nlohmann::ordered_json document;
  BpeModel model;
  PreTokenizer pre_tokenizer;
  std::vector<NormalizationForm> normalizer;
  std::vector<AddedToken> added_tokens;
  // Added tokens matched in the raw text (normalized == false), and those
  // matched after normalization.
  AddedTokenMatcher raw_matcher, normalized_matcher;
  std::unordered_map<std::string, uint32_t> added_by_content;
  std::unordered_map<uint32_t, size_t> added_by_id;  // id -> index
  int vocab_size = 0;
};

// BuildImpl(document, source): parses and validates a tokenizer.json
// document; errors are prefixed with `source` and name the field.
absl::StatusOr<std::unique_ptr<Tokenizer::Impl>> BuildImpl(
    nlohmann::ordered_json document, std::string_view source);

}  // namespace hs::data

#endif  // DATA_TOKENIZER_TOKENIZER_IMPL_H_
