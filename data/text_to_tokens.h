// File: data/text_to_tokens.h
//
// Byte-level tokenization, the stand-in until the byte-level BPE tokenizer
// (HF tokenizer.json) lands: token id = byte value, vocabulary 256. Any
// byte string round-trips exactly, UTF-8 included (one token per byte).
//
// Usage:
//   std::vector<uint32_t> ids = TextToTokens("hello");   // {104, 101, ...}
//   std::string text = TokensToText(ids32.data(), ids32.size());
#ifndef DATA_TEXT_TO_TOKENS_H_
#define DATA_TEXT_TO_TOKENS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace hs::data {

// Vocabulary size of the byte-level tokenizer.
inline constexpr int64_t kByteVocabSize = 256;

// TextToTokens(text): one id per byte, id = (unsigned char) byte.
std::vector<uint32_t> TextToTokens(absl::string_view text);

// TextToTokens(text, out): same into out[text.size()], no allocation.
void TextToTokens(absl::string_view text, uint32_t* out);

// TokensToText(ids, n): the inverse; ids outside [0, 256) become '?'.
std::string TokensToText(const int32_t* ids, int64_t n);

}  // namespace hs::data

#endif  // DATA_TEXT_TO_TOKENS_H_
