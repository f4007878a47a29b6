// File: haiscale/sweep/bytes_per_token.h
//
// MeasureBytesPerToken: how many bytes of text a held-out token stands for,
// so that a sweep can report bits per byte (eval loss / ln 2 / bytes per
// token), a metric comparable across tokenizers, without the user working
// the ratio out by hand.
//
//   HS_ASSIGN_OR_RETURN(double bpt, MeasureBytesPerToken("tok.json", "data/prep/eval"));
#ifndef HAISCALE_SWEEP_BYTES_PER_TOKEN_H_
#define HAISCALE_SWEEP_BYTES_PER_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"

namespace hs::sweep {

// MeasureBytesPerToken(tokenizer_path, tokens_path): the text bytes of every
// token of tokens_path (a flat token file or a prepared dataset) decoded
// with the tokenizer, divided by the number of tokens. Special tokens (the
// EOS appended per document) count as tokens but not as text. Errors name
// the file: unreadable tokenizer or tokens, an id outside the vocabulary,
// no text at all.
absl::StatusOr<double> MeasureBytesPerToken(const std::string& tokenizer_path,
                                            const std::string& tokens_path);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_BYTES_PER_TOKEN_H_
