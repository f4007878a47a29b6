// File: data/tokenizer/normalizer.cc
#include "data/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "data/tokenizer/byte_level.h"

namespace hs::data {
namespace {

void NormalizeValid(std::string_view text, NormalizationForm form, std::string* out) {
  if (text.empty()) return;
  int options = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  if (form == NormalizationForm::kNFKC) options |= UTF8PROC_COMPAT;
  utf8proc_uint8_t* result = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   utf8proc_ssize_t(text.size()), &result, utf8proc_option_t(options));
  if (n < 0) {
    // Only out of memory can fail on valid UTF-8: keep the text unchanged.
    out->append(text);
  } else {
    out->append(reinterpret_cast<const char*>(result), size_t(n));
  }
  std::free(result);
}

std::string NormalizeOnce(std::string_view text, NormalizationForm form) {
  std::string out;
  out.reserve(text.size());
  size_t run_begin = 0, pos = 0;
  while (pos < text.size()) {
    const size_t at = pos;
    if (byte_level::NextCodePoint(text, &pos)) continue;
    // text[at] starts an invalid sequence: normalize the run before it.
    NormalizeValid(text.substr(run_begin, at - run_begin), form, &out);
    out.push_back(text[at]);
    run_begin = pos;
  }
  NormalizeValid(text.substr(run_begin), form, &out);
  return out;
}

}  // namespace

absl::StatusOr<NormalizationForm> ParseNormalizationForm(std::string_view type) {
  if (type == "NFC") return NormalizationForm::kNFC;
  if (type == "NFKC") return NormalizationForm::kNFKC;
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported normalizer type \"", std::string(type), "\" (supported: NFC, NFKC, null)"));
}

std::string Normalize(std::string_view text, const std::vector<NormalizationForm>& forms) {
  std::string current(text);
  for (NormalizationForm form : forms) current = NormalizeOnce(current, form);
  return current;
}

}  // namespace hs::data
