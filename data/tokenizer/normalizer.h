// File: data/tokenizer/normalizer.h
//
// Unicode normalization for tokenizer.json's NFC / NFKC normalizers, done
// by utf8proc. Bytes that are not valid UTF-8 are passed through unchanged
// (each valid run around them is normalized on its own), so any input has
// an output.
#ifndef DATA_TOKENIZER_NORMALIZER_H_
#define DATA_TOKENIZER_NORMALIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hs::data {

enum class NormalizationForm { kNFC, kNFKC };

// ParseNormalizationForm("NFC" | "NFKC").
absl::StatusOr<NormalizationForm> ParseNormalizationForm(std::string_view type);

// Normalize(text, forms): applies each form in order.
std::string Normalize(std::string_view text, const std::vector<NormalizationForm>& forms);

}  // namespace hs::data

#endif  // DATA_TOKENIZER_NORMALIZER_H_
