// File: haiscale/sweep/bytes_per_token.cc — see bytes_per_token.h.
#include "haiscale/sweep/bytes_per_token.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/token_file.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/status.h"

namespace hs::sweep {

absl::StatusOr<double> MeasureBytesPerToken(const std::string& tokenizer_path,
                                            const std::string& tokens_path) {
  HS_ASSIGN_OR_RETURN(data::Tokenizer tok,
                      data::Tokenizer::LoadFile(tokenizer_path));
  HS_ASSIGN_OR_RETURN(std::unique_ptr<data::TokenFile> file, data::TokenFile::Open(tokens_path));
  // Text bytes per id once (specials are markup, not text).
  std::vector<int64_t> text_bytes(size_t(tok.vocab_size()), 0);
  for (int id = 0; id < tok.vocab_size(); ++id) {
    if (!tok.IsSpecial(uint32_t(id))) text_bytes[size_t(id)] = int64_t(tok.TokenBytes(uint32_t(id)).size());
  }
  constexpr int64_t kChunk = 1 << 20;
  std::vector<int32_t> ids(size_t(std::min<int64_t>(kChunk, file->size())));
  int64_t bytes = 0;
  for (int64_t at = 0; at < file->size(); at += kChunk) {
    const int64_t n = std::min<int64_t>(kChunk, file->size() - at);
    HS_RETURN_IF_ERROR(file->Read(at, n, ids.data()));
    for (int64_t i = 0; i < n; ++i) {
      const int32_t id = ids[size_t(i)];
      if (id < 0 || id >= tok.vocab_size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            tokens_path, ": token ", at + i, " is id ", id, ", outside the vocabulary of ",
            tokenizer_path, " (", tok.vocab_size(), " ids): not the tokenizer that made it?"));
      }
      bytes += text_bytes[size_t(id)];
    }
  }
  if (bytes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(tokens_path, ": decodes to no text with ", tokenizer_path));
  }
  return double(bytes) / double(file->size());
}

}  // namespace hs::sweep
