// File: data/text_to_tokens.cc — byte-level tokenization, see text_to_tokens.h.
#include "data/text_to_tokens.h"

namespace hs::data {

void TextToTokens(absl::string_view text, uint32_t* out) {
  for (size_t i = 0; i < text.size(); ++i) {
    out[i] = static_cast<unsigned char>(text[i]);
  }
}

std::vector<uint32_t> TextToTokens(absl::string_view text) {
  std::vector<uint32_t> ids(text.size());
  TextToTokens(text, ids.data());
  return ids;
}

std::string TokensToText(const int32_t* ids, int64_t n) {
  std::string text(size_t(n), '?');
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] >= 0 && ids[i] < kByteVocabSize) text[i] = char(ids[i]);
  }
  return text;
}

}  // namespace hs::data
