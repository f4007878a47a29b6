// File: data/dataset/prepare.h
//
// Prepare: tokenizes text documents into a prepared dataset (format.h) with
// a held-out split, the engine of `hai data prepare`.
//
// Input formats, one document each:
//   text     a line (its newline dropped; empty lines skipped)
//   jsonl    a JSON object per line; the document is its string field
//            `field` (default "text"); invalid JSON or a missing or
//            non-string field is an error naming file:line
//   fortune  an entry of a fortune(6) file: the lines between "%" lines
// Empty documents are skipped (counted). With `require_utf8`, text and
// fortune documents must be valid UTF-8 (JSON strings always are).
//
// Determinism: documents are read in input order in batches, each batch is
// tokenized on `threads` threads with output in input order, and the split
// of document i (in input order) is a hash of (split_seed, i): the output
// bytes are the same for every thread count.
//
// Output, written as <out>.tmp.<pid>/ and renamed to <out> at the end (an
// interrupted run leaves no <out>; the temporary directory has no index
// until each split is complete, so no reader accepts it either):
//   <out>/train/          prepared dataset (index.hds + shards)
//   <out>/eval/           the held-out documents (when any)
//   <out>/tokenizer.json  the tokenizer used (inspect decodes with it)
//   <out>/prepare.json    inputs, options, EOS and the counts
#ifndef DATA_DATASET_PREPARE_H_
#define DATA_DATASET_PREPARE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/tokenizer/tokenizer.h"

namespace hs::data::dataset {

enum class InputFormat { kText, kJsonl, kFortune };

// ParseInputFormat("text" | "jsonl" | "fortune").
absl::StatusOr<InputFormat> ParseInputFormat(const std::string& name);

// PrepareProgress: reported after each batch.
struct PrepareProgress {
  int64_t bytes_read = 0;
  int64_t bytes_total = 0;  // sum of the input file sizes
  int64_t documents = 0;
  int64_t tokens = 0;
  double seconds = 0;
};

struct PrepareOptions {
  std::vector<std::string> inputs;
  std::string out_dir;
  std::string tokenizer_path;     // copied to <out>/tokenizer.json
  InputFormat format = InputFormat::kText;
  std::string field = "text";     // jsonl
  std::string eos_token;          // "" = ChooseEos
  int64_t shard_bytes = int64_t(256) << 20;
  int threads = 0;                // 0 = all hardware threads
  double eval_fraction = 0.01;
  uint64_t split_seed = 0;
  bool skip_bad = false;          // count bad lines instead of failing
  bool require_utf8 = false;
  int64_t batch_bytes = int64_t(8) << 20;  // text per tokenization batch
  std::function<void(const PrepareProgress&)> on_progress;
};

struct SplitCounts {
  int64_t documents = 0;
  int64_t tokens = 0;
  int64_t shards = 0;
};

struct PrepareResult {
  SplitCounts train, eval;
  int64_t skipped_bad = 0;    // bad lines skipped (--skip-bad)
  int64_t skipped_empty = 0;  // empty documents
  uint32_t eos_id = 0;
  std::string eos_token;
  std::string eos_reason;     // how the EOS was chosen
  int64_t bytes_read = 0;
  double seconds = 0;
};

// EosChoice: the EOS token a dataset appends to every document.
struct EosChoice {
  uint32_t id = 0;
  std::string token;
  std::string reason;
};

// ChooseEos(tokenizer, requested): `requested` when set (it must be a token
// of the tokenizer); otherwise the first special added token named like an
// end of text: "<|endoftext|>", "<｜end▁of▁sentence｜>" (DeepSeek),
// "<|end_of_text|>", "</s>", "<|eos|>", "<eos>"; otherwise the only special
// added token. Errors list the special tokens to choose from.
absl::StatusOr<EosChoice> ChooseEos(const Tokenizer& tokenizer, const std::string& requested);

// Prepare(tokenizer, options): see above. Errors name the input file and
// line, or the output path; <out> must not exist yet.
absl::StatusOr<PrepareResult> Prepare(const Tokenizer& tokenizer, const PrepareOptions& options);

}  // namespace hs::data::dataset

#endif  // DATA_DATASET_PREPARE_H_
