// File: data/dataset/inspect.h
//
// Summaries of a prepared dataset for `hai data inspect DIR`: document and
// token counts, a document-length histogram and the most frequent tokens.
#ifndef DATA_DATASET_INSPECT_H_
#define DATA_DATASET_INSPECT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset/reader.h"

namespace hs::data::dataset {

// EscapeBytes(bytes): printable ASCII as is, newline and tab as \n and \t,
// quotes and backslashes escaped, every other byte as \xNN (so a token's
// partial UTF-8 sequence stays visible).
std::string EscapeBytes(const std::string& bytes);

// LengthHistogram: documents per power-of-two length bucket; bucket b
// counts lengths in [2^b, 2^(b+1)) tokens (EOS included).
std::vector<int64_t> LengthHistogram(const PreparedDataset& ds);

// TopTokens(ds, k): the k most frequent ids with their counts, most
// frequent first (ties: smaller id first).
std::vector<std::pair<uint32_t, int64_t>> TopTokens(const PreparedDataset& ds, int64_t k);

// InspectReport(dir, top, tokenizer_path): the text `hai data inspect`
// prints for a prepared dataset directory (a split, or a `hai data prepare`
// output with train/ and eval/). Tokens are decoded with tokenizer_path,
// else with <dir>/tokenizer.json (or the parent's) when present.
absl::StatusOr<std::string> InspectReport(const std::string& dir, int64_t top,
                                          const std::string& tokenizer_path);

}  // namespace hs::data::dataset

#endif  // DATA_DATASET_INSPECT_H_
