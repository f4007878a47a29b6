// File: data/dataset/dataset_cli.cc
//
// `hai data prepare` and `hai data verify` (prepared datasets; `hai data
// inspect DIR` lives with the other inspect in data/data_cli.cc).
//
//   hai data prepare --tokenizer tokenizer.json --in a.jsonl b.jsonl --out prepared/
//       [--format text|jsonl|fortune] [--field text] [--shard-size 256MB]
//       [--threads N] [--eval-fraction 0.01] [--skip-bad] [--eos TOKEN]
//   hai data verify prepared/
//
// Exit codes: 0 success, 1 the operation failed, 2 bad flags.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/dataset/prepare.h"
#include "data/dataset/reader.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/io/atomic_file.h"

namespace hs::data::dataset {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  return 1;
}

// ParseSize("256MB" | "64KiB" | "1G" | "4096"): bytes (powers of 1024).
absl::StatusOr<int64_t> ParseSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(uint8_t(text[i])) || text[i] == '.')) ++i;
  double value;
  if (i == 0 || !absl::SimpleAtod(text.substr(0, i), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--shard-size: cannot parse \"", text, "\""));
  }
  std::string unit;
  for (char c : text.substr(i)) unit.push_back(char(std::toupper(uint8_t(c))));
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "K" || unit == "KB" || unit == "KIB") {
    shift = 10;
  } else if (unit == "M" || unit == "MB" || unit == "MIB") {
    shift = 20;
  } else if (unit == "G" || unit == "GB" || unit == "GIB") {
    shift = 30;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard-size: unknown unit \"", text.substr(i), "\" (B, KB, MB, GB)"));
  }
  const double bytes = value * double(int64_t(1) << shift);
  if (bytes < 4 || bytes > double(int64_t(1) << 40)) {
    return absl::InvalidArgumentError(absl::StrCat("--shard-size: ", text, " is out of range"));
  }
  return int64_t(bytes);
}

std::string Clock(double seconds) {
  const int64_t s = int64_t(seconds + 0.5);
  return s >= 3600 ? absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                   : absl::StrFormat("%d:%02d", s / 60, s % 60);
}

// DrawProgress: one carriage-returned status line on stderr.
void DrawProgress(const PrepareProgress& p) {
  const double frac = p.bytes_total ? double(p.bytes_read) / double(p.bytes_total) : 1.0;
  const double mbps = p.seconds > 0 ? double(p.bytes_read) / 1e6 / p.seconds : 0;
  const double eta = frac > 0 ? p.seconds * (1 - frac) / frac : 0;
  const int width = 24, filled = int(frac * width);
  std::fprintf(stderr, "\r%3d%% [%s%s] %.1f/%.1f MB  %.1f MB/s  ETA %s  %lld docs  %lld tokens ",
               int(frac * 100), std::string(size_t(filled), '#').c_str(),
               std::string(size_t(width - filled), ' ').c_str(), double(p.bytes_read) / 1e6,
               double(p.bytes_total) / 1e6, mbps, Clock(eta).c_str(), (long long)p.documents,
               (long long)p.tokens);
  std::fflush(stderr);
}

int RunPrepare(int argc, char** argv) {
  cli::ArgParser parser("hai data prepare");
  parser.AllowPositional();
  parser.AddString("tokenizer", "", "tokenizer.json (Hugging Face format)");
  parser.AddList("in", "input file (repeat, or list several after --in)");
  parser.AddString("out", "", "output directory (must not exist)");
  parser.AddString("format", "text",
                   "text (a document per line) | jsonl (a JSON object per line) | fortune "
                   "(entries between % lines)");
  parser.AddString("field", "text", "jsonl: the string field holding the document");
  parser.AddString("shard-size", "256MB", "bytes per shard (KB, MB, GB)");
  parser.AddInt("threads", 0, "tokenizer threads (0 = all cores); the output is the same");
  parser.AddDouble("eval-fraction", 0.01, "share of documents held out in <out>/eval");
  parser.AddInt("split-seed", 0, "seed of the held-out document choice");
  parser.AddBool("skip-bad", "skip bad input lines (counted) instead of failing");
  parser.AddBool("require-utf8", "text/fortune: fail on (or skip) documents that are not UTF-8");
  parser.AddString("eos", "", "token appended to every document (default: the tokenizer's "
                              "end-of-text special token)");
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  PrepareOptions o;
  o.inputs = parser.GetList("in");
  for (const std::string& p : parser.positional()) o.inputs.push_back(p);
  o.out_dir = parser.GetString("out");
  o.tokenizer_path = parser.GetString("tokenizer");
  o.field = parser.GetString("field");
  o.eos_token = parser.GetString("eos");
  o.threads = int(parser.GetInt("threads"));
  o.eval_fraction = parser.GetDouble("eval-fraction");
  o.split_seed = uint64_t(parser.GetInt("split-seed"));
  o.skip_bad = parser.GetBool("skip-bad");
  o.require_utf8 = parser.GetBool("require-utf8");
  if (o.tokenizer_path.empty() || o.out_dir.empty() || o.inputs.empty()) {
    std::fprintf(stderr, "--tokenizer, --in and --out are required\n\n%s",
                 parser.Usage().c_str());
    return 2;
  }
  if (o.threads < 0) return Fail(absl::InvalidArgumentError("--threads must be >= 0"));
  absl::StatusOr<InputFormat> format = ParseInputFormat(parser.GetString("format"));
  if (!format.ok()) return Fail(format.status());
  o.format = *format;
  absl::StatusOr<int64_t> shard = ParseSize(parser.GetString("shard-size"));
  if (!shard.ok()) return Fail(shard.status());
  o.shard_bytes = *shard;
  absl::StatusOr<Tokenizer> tok = Tokenizer::LoadFile(o.tokenizer_path);
  if (!tok.ok()) return Fail(tok.status());
  const bool live = isatty(STDERR_FILENO) != 0;
  if (live) o.on_progress = DrawProgress;
  absl::StatusOr<PrepareResult> r = Prepare(*tok, o);
  if (live) std::fprintf(stderr, "\n");
  if (!r.ok()) return Fail(r.status());
  std::printf("eos        id %u \"%s\" (%s)\n", r->eos_id, r->eos_token.c_str(),
              r->eos_reason.c_str());
  std::printf("train      %lld documents, %lld tokens, %lld shard(s)\n",
              (long long)r->train.documents, (long long)r->train.tokens,
              (long long)r->train.shards);
  std::printf("eval       %lld documents, %lld tokens%s\n", (long long)r->eval.documents,
              (long long)r->eval.tokens, r->eval.documents ? "" : " (no eval split written)");
  if (r->skipped_bad) std::printf("skipped    %lld bad lines\n", (long long)r->skipped_bad);
  if (r->skipped_empty) {
    std::printf("skipped    %lld empty documents\n", (long long)r->skipped_empty);
  }
  std::printf("read       %.1f MB in %.1f s (%.1f MB/s) -> %s\n", double(r->bytes_read) / 1e6,
              r->seconds, r->seconds > 0 ? double(r->bytes_read) / 1e6 / r->seconds : 0.0,
              o.out_dir.c_str());
  return 0;
}

int RunVerify(int argc, char** argv) {
  cli::ArgParser parser("hai data verify");
  parser.AllowPositional();
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  if (parser.positional().empty()) {
    std::fprintf(stderr, "usage: hai data verify DIR...\n\n%s", parser.Usage().c_str());
    return 2;
  }
  int failures = 0;
  for (const std::string& dir : parser.positional()) {
    std::vector<std::string> splits;
    if (PreparedDataset::IsPreparedDataset(dir)) {
      splits.push_back(dir);
    } else {
      for (const char* name : {"train", "eval"}) {
        if (io::IsDirectory(absl::StrCat(dir, "/", name))) splits.push_back(absl::StrCat(dir, "/", name));
      }
      if (splits.empty()) splits.push_back(dir);  // Open names what is missing
    }
    for (const std::string& split : splits) {
      absl::StatusOr<std::unique_ptr<PreparedDataset>> ds = PreparedDataset::Open(split);
      absl::Status s = ds.ok() ? (*ds)->VerifyChecksums() : ds.status();
      if (!s.ok()) {
        std::fprintf(stderr, "FAIL %s: %s\n", split.c_str(), std::string(s.message()).c_str());
        ++failures;
        continue;
      }
      std::printf("OK   %s: %lld shard(s), %lld documents, %lld tokens, CRC-32C match\n",
                  split.c_str(), (long long)(*ds)->num_shards(), (long long)(*ds)->num_docs(),
                  (long long)(*ds)->num_tokens());
    }
  }
  return failures ? 1 : 0;
}

}  // namespace

HS_REGISTER_SUBCOMMAND("data prepare",
                       "tokenize text/jsonl/fortune files into a sharded dataset + eval split",
                       RunPrepare);
HS_REGISTER_SUBCOMMAND("data verify", "check a prepared dataset's sizes and CRC-32Cs", RunVerify);

}  // namespace hs::data::dataset
