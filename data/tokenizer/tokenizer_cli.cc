// File: data/tokenizer/tokenizer_cli.cc
//
// `hai data tokenizer-train | encode | decode`:
//
//   hai data tokenizer-train --in a.txt b.txt --vocab 8192 --out tokenizer.json
//       [--pre-tokenizer gpt2|deepseek] [--special "<|eos|>" ...] [--threads N]
//       [--min-frequency 2]
//   hai data encode --tokenizer tokenizer.json --in text.txt --out ids.bin   (or --out -)
//   hai data decode --tokenizer tokenizer.json --in ids.bin --out text.txt   (or --out -)
//
// encode treats the whole file as one text and writes flat little-endian
// uint32 ids, adding no special tokens; `--out -` prints the ids on one
// line. decode is its inverse. Exit codes: 0 success, 1 failure, 2 bad flags.
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "data/tokenizer/bpe_trainer.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/io/atomic_file.h"

namespace hs::data {
namespace {

static_assert(std::endian::native == std::endian::little,
              "token files are little-endian; add a byte swap for this host");

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  return 1;
}

absl::Status WriteOutput(const std::string& out, const std::string& bytes) {
  if (out == "-") {
    if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) {
      return absl::UnavailableError("writing to stdout failed");
    }
    return absl::OkStatus();
  }
  return io::WriteFileAtomically(out, bytes);
}

int RunTokenizerTrain(int argc, char** argv) {
  cli::ArgParser parser("hai data tokenizer-train");
  parser.AllowPositional();
  parser.AddList("in", "text file(s) to learn from (more may follow as plain arguments)");
  parser.AddInt("vocab", 8192, "vocabulary size: 256 bytes + merges + special tokens");
  parser.AddString("out", "", "tokenizer.json to write");
  parser.AddString("pre-tokenizer", "gpt2", "gpt2 (GPT-2 regex) or deepseek (DeepSeek splits)");
  parser.AddList("special", "special token to reserve, e.g. \"<|eos|>\" (repeatable)");
  parser.AddInt("threads", 0, "counting threads (0: all cores)");
  parser.AddInt("min-frequency", 2, "pairs seen fewer times are not merged");
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  std::vector<std::string> inputs = parser.GetList("in");
  for (const std::string& p : parser.positional()) inputs.push_back(p);
  const std::string out = parser.GetString("out");
  if (inputs.empty() || out.empty()) {
    return Fail(absl::InvalidArgumentError("--in and --out are required"));
  }
  absl::StatusOr<PreTokenizerStyle> style =
      ParsePreTokenizerStyle(parser.GetString("pre-tokenizer"));
  if (!style.ok()) return Fail(style.status());
  BpeTrainOptions options;
  options.vocab_size = int(parser.GetInt("vocab"));
  options.pre_tokenizer = *style;
  options.special_tokens = parser.GetList("special");
  options.threads = int(parser.GetInt("threads"));
  options.min_frequency = parser.GetInt("min-frequency");
  std::vector<std::string> texts;
  int64_t bytes = 0;
  for (const std::string& path : inputs) {
    absl::StatusOr<std::string> text = io::ReadFileToString(path);
    if (!text.ok()) return Fail(text.status());
    bytes += int64_t(text->size());
    texts.push_back(std::move(*text));
  }
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Tokenizer> tokenizer = TrainBpe(views, options);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (absl::Status s = tokenizer->SaveFile(out); !s.ok()) return Fail(s);
  std::printf("trained a %d-token BPE on %lld bytes from %zu file(s) in %.2f s -> %s\n",
              tokenizer->vocab_size(), (long long)bytes, inputs.size(), seconds, out.c_str());
  if (tokenizer->vocab_size() < options.vocab_size) {
    std::printf("stopped below --vocab %d: no pair occurs --min-frequency (%lld) times\n",
                options.vocab_size, (long long)options.min_frequency);
  }
  return 0;
}

// CodecCommand: what `encode` and `decode` share: the tokenizer, the input
// file's bytes, the output path and one boolean flag.
struct CodecCommand {
  std::optional<Tokenizer> tokenizer;
  std::string in, out, input;
  bool flag = false;
};

// ParseCodecCommand: -1 when `command` is ready, otherwise the exit code.
int ParseCodecCommand(const char* program, const char* in_help, const char* out_help,
                      const char* flag, const char* flag_help, int argc, char** argv,
                      CodecCommand* command) {
  cli::ArgParser parser(program);
  parser.AddString("tokenizer", "", "tokenizer.json");
  parser.AddString("in", "", in_help);
  parser.AddString("out", "", out_help);
  parser.AddBool(flag, flag_help);
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  command->in = parser.GetString("in");
  command->out = parser.GetString("out");
  command->flag = parser.GetBool(flag);
  if (parser.GetString("tokenizer").empty() || command->in.empty() || command->out.empty()) {
    return Fail(absl::InvalidArgumentError("--tokenizer, --in and --out are required"));
  }
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::LoadFile(parser.GetString("tokenizer"));
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  command->tokenizer.emplace(std::move(*tokenizer));
  absl::StatusOr<std::string> input = io::ReadFileToString(command->in);
  if (!input.ok()) return Fail(input.status());
  command->input = std::move(*input);
  return -1;
}

int RunEncode(int argc, char** argv) {
  CodecCommand c;
  if (int rc = ParseCodecCommand(
          "hai data encode", "text file (encoded whole, as one text)",
          "ids file (little-endian uint32), or - to print the ids", "no-special",
          "encode special tokens in the text as plain text", argc, argv, &c);
      rc >= 0) {
    return rc;
  }
  EncodeOptions options;
  options.match_special_tokens = !c.flag;
  const std::vector<uint32_t> ids = c.tokenizer->Encode(c.input, options);
  if (c.out == "-") {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) absl::StrAppend(&line, i ? " " : "", ids[i]);
    line += "\n";
    if (absl::Status s = WriteOutput(c.out, line); !s.ok()) return Fail(s);
    return 0;
  }
  std::string bytes(ids.size() * sizeof(uint32_t), '\0');
  if (!ids.empty()) std::memcpy(bytes.data(), ids.data(), bytes.size());
  if (absl::Status s = WriteOutput(c.out, bytes); !s.ok()) return Fail(s);
  std::fprintf(stderr, "encoded %zu bytes into %zu tokens (%.2f bytes/token) -> %s\n",
               c.input.size(), ids.size(),
               ids.empty() ? 0.0 : double(c.input.size()) / double(ids.size()), c.out.c_str());
  return 0;
}

int RunDecode(int argc, char** argv) {
  CodecCommand c;
  if (int rc = ParseCodecCommand(
          "hai data decode", "ids file (little-endian uint32, as `hai data encode` writes)",
          "text file to write, or - for stdout", "skip-special",
          "leave special tokens out of the text", argc, argv, &c);
      rc >= 0) {
    return rc;
  }
  if (c.input.size() % sizeof(uint32_t) != 0) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        c.in, ": size ", c.input.size(), " is not a multiple of 4 (uint32 ids)")));
  }
  std::vector<uint32_t> ids(c.input.size() / sizeof(uint32_t));
  if (!ids.empty()) std::memcpy(ids.data(), c.input.data(), c.input.size());
  DecodeOptions options;
  options.skip_special_tokens = c.flag;
  absl::StatusOr<std::string> text = c.tokenizer->Decode(ids, options);
  if (!text.ok()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(c.in, ": ", std::string(text.status().message()))));
  }
  if (absl::Status s = WriteOutput(c.out, *text); !s.ok()) return Fail(s);
  return 0;
}

}  // namespace

HS_REGISTER_SUBCOMMAND("data tokenizer-train",
                       "train a byte-level BPE tokenizer (HF tokenizer.json) on text files",
                       RunTokenizerTrain);
HS_REGISTER_SUBCOMMAND("data encode",
                       "encode a text file into uint32 token ids with a tokenizer.json",
                       RunEncode);
HS_REGISTER_SUBCOMMAND("data decode",
                       "decode uint32 token ids back into text with a tokenizer.json",
                       RunDecode);

}  // namespace hs::data
