// File: data/data_cli.cc
//
// `hai data ...` subcommands: write the built-in quickstart corpus, turn a
// text file into a byte-level token file, and inspect a token file.
//
//   hai data write-corpus --out data/quickstart.u32 [--bytes 262144] [--seed 1234]
//   hai data from-text --in notes.txt --out data/notes.u32
//   hai data inspect data/quickstart.u32 [--seq 256] [--vocab 256] [--show 16]
//   hai data inspect prepared/ [--top 20] [--tokenizer tokenizer.json]
//
// Exit codes: 0 success, 1 the operation failed, 2 bad flags.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/corpus.h"
#include "data/dataset/inspect.h"
#include "data/text_to_tokens.h"
#include "data/token_file.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data {
namespace {

// ParseOrExit: parses flags; returns -1 to continue, else an exit code
// (0 after --help, 2 after a flag error).
int ParseOrExit(cli::ArgParser& parser, int argc, char** argv) {
  absl::Status status = parser.Parse(argc, argv);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(status.message()).c_str(),
                 parser.Usage().c_str());
    return 2;
  }
  if (parser.help_requested()) {
    std::printf("%s", parser.Usage().c_str());
    return 0;
  }
  return -1;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  return 1;
}

int RunWriteCorpus(int argc, char** argv) {
  cli::ArgParser parser("hai data write-corpus");
  parser.AddString("out", "", "token file to write (flat little-endian u32)");
  parser.AddInt("bytes", kQuickstartCorpusDefaultBytes,
                "corpus size in bytes (= tokens, byte-level)");
  parser.AddInt("seed", 1234, "seed of the paragraph order");
  if (int rc = ParseOrExit(parser, argc, argv); rc >= 0) return rc;
  const std::string out = parser.GetString("out");
  const int64_t bytes = parser.GetInt("bytes");
  if (out.empty()) return Fail(absl::InvalidArgumentError("--out is required"));
  if (bytes < 1) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--bytes must be >= 1, got ", bytes)));
  }
  std::string text = QuickstartCorpus(bytes, uint64_t(parser.GetInt("seed")));
  if (absl::Status s = WriteTokensFromText(text, out); !s.ok()) return Fail(s);
  std::printf("wrote %lld tokens (byte-level, vocab %lld) to %s\n",
              (long long)text.size(), (long long)kByteVocabSize, out.c_str());
  return 0;
}

int RunFromText(int argc, char** argv) {
  cli::ArgParser parser("hai data from-text");
  parser.AddString("in", "", "text file to tokenize (one token per byte)");
  parser.AddString("out", "", "token file to write (flat little-endian u32)");
  if (int rc = ParseOrExit(parser, argc, argv); rc >= 0) return rc;
  const std::string in = parser.GetString("in"), out = parser.GetString("out");
  if (in.empty() || out.empty()) {
    return Fail(absl::InvalidArgumentError("--in and --out are required"));
  }
  absl::StatusOr<std::string> text = io::ReadFileToString(in);
  if (!text.ok()) return Fail(text.status());
  if (text->empty()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("text file ", in, ": file is empty")));
  }
  if (absl::Status s = WriteTokensFromText(*text, out); !s.ok()) return Fail(s);
  std::printf("wrote %lld tokens (byte-level, vocab %lld) from %s to %s\n",
              (long long)text->size(), (long long)kByteVocabSize, in.c_str(),
              out.c_str());
  return 0;
}

int RunInspect(int argc, char** argv) {
  cli::ArgParser parser("hai data inspect");
  parser.AllowPositional();
  parser.AddInt("seq", 256, "sequence length S for the window counts");
  parser.AddInt("vocab", 0, "if > 0, check every id is < vocab");
  parser.AddInt("show", 16, "how many leading tokens to print");
  parser.AddInt("top", 20, "prepared dataset: how many most frequent tokens to list");
  parser.AddString("tokenizer", "",
                   "prepared dataset: tokenizer.json to decode with (default: the dataset's)");
  if (int rc = ParseOrExit(parser, argc, argv); rc >= 0) return rc;
  if (parser.positional().size() != 1) {
    std::fprintf(stderr, "usage: hai data inspect PATH [flags]\n\n%s",
                 parser.Usage().c_str());
    return 2;
  }
  const std::string path = parser.positional()[0];
  if (io::IsDirectory(path)) {  // a prepared dataset
    absl::StatusOr<std::string> report =
        dataset::InspectReport(path, parser.GetInt("top"), parser.GetString("tokenizer"));
    if (!report.ok()) return Fail(report.status());
    std::printf("%s", report->c_str());
    return 0;
  }
  const int64_t seq = parser.GetInt("seq");
  if (seq < 1) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--seq must be >= 1, got ", seq)));
  }
  absl::StatusOr<std::unique_ptr<TokenFile>> file = TokenFile::Open(path);
  if (!file.ok()) return Fail(file.status());
  const TokenFile& f = **file;
  const auto [lo, hi] = f.MinMax();
  std::printf("file       %s\n", path.c_str());
  std::printf("tokens     %lld (%lld bytes)\n", (long long)f.size(),
              (long long)f.size() * 4);
  std::printf("ids        min %u, max %u\n", lo, hi);
  std::printf("windows    %lld training samples of seq %lld (%lld tokens each)\n",
              (long long)((f.size() - 1) / seq), (long long)seq,
              (long long)seq + 1);
  std::printf("eval rows  %lld rows of %lld tokens\n",
              (long long)(f.size() / (seq + 1)), (long long)seq + 1);
  const int64_t show = std::min<int64_t>(std::max<int64_t>(parser.GetInt("show"), 0),
                                         f.size());
  std::vector<int32_t> head(size_t(show), 0);
  if (absl::Status s = f.Read(0, show, head.data()); !s.ok()) return Fail(s);
  std::printf("first %-4lld [%s]\n", (long long)show,
              absl::StrJoin(head, ", ").c_str());
  if (hi < kByteVocabSize) {
    std::printf("as bytes   \"%s\"\n",
                dataset::EscapeBytes(TokensToText(head.data(), show)).c_str());
  }
  if (const int64_t vocab = parser.GetInt("vocab"); vocab > 0) {
    if (absl::Status s = f.Validate(vocab); !s.ok()) return Fail(s);
    std::printf("vocab      every id < %lld\n", (long long)vocab);
  }
  return 0;
}

}  // namespace

HS_REGISTER_SUBCOMMAND("data write-corpus",
                       "write the built-in quickstart corpus as a token file",
                       RunWriteCorpus);
HS_REGISTER_SUBCOMMAND("data from-text",
                       "byte-level tokenize a text file into a token file",
                       RunFromText);
HS_REGISTER_SUBCOMMAND("data inspect",
                       "summarise a token file or a prepared dataset directory",
                       RunInspect);

}  // namespace hs::data
