// File: data/post/post_cli.cc
//
// Post-training data subcommands:
//
//   hai data prepare-sft --tokenizer T --in x.jsonl --out DIR [--seq 256]
//       [--format deepseek-v2|plain] [--train-on-prompt] [--drop-long]
//   hai data prepare-dpo --tokenizer T --in pairs.jsonl --out DIR [--seq 256]
//       [--format deepseek-v2|plain]
//   hai data make-task addition --digits 3 --train 2000 --eval 200 --out DIR [--seed 1]
//
// Exit codes: 0 success, 1 the operation failed, 2 bad flags.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "data/chat/chat_template.h"
#include "data/post/addition_task.h"
#include "data/post/post_data.h"
#include "data/post/rows_file.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data::post {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  return 1;
}

void AddPrepareFlags(cli::ArgParser& parser) {
  parser.AddString("tokenizer", "", "tokenizer.json");
  parser.AddString("in", "", "JSONL input");
  parser.AddString("out", "", "output directory");
  parser.AddInt("seq", 256, "row length (the run's train.seq_len)");
  parser.AddString("format", "deepseek-v2", "chat template: deepseek-v2 | plain");
}

struct Prepared {
  Tokenizer tokenizer;
  TemplateContext ctx;
  std::vector<std::string> lines;  // raw lines, "" for blank ones
};

// Open: flags checked, tokenizer and input read.
absl::StatusOr<Prepared> Open(const cli::ArgParser& parser) {
  for (const char* flag : {"tokenizer", "in", "out"}) {
    if (parser.GetString(flag).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required"));
    }
  }
  if (parser.GetInt("seq") < 2) {
    return absl::InvalidArgumentError(absl::StrCat("--seq must be >= 2, got ", parser.GetInt("seq")));
  }
  HS_ASSIGN_OR_RETURN(ChatFormat format, ParseChatFormat(parser.GetString("format")));
  HS_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::LoadFile(parser.GetString("tokenizer")));
  std::vector<std::string> added;
  for (const auto& t : tok.added_tokens()) added.push_back(t.content);
  HS_ASSIGN_OR_RETURN(ChatSpecialTokens special, ChatSpecialTokensOf(added));
  HS_ASSIGN_OR_RETURN(std::string text, io::ReadFileToString(parser.GetString("in")));
  Prepared p{std::move(tok), {}, absl::StrSplit(text, '\n')};
  p.ctx.format = format;
  p.ctx.special = std::move(special);
  return p;
}

absl::Status Finish(const cli::ArgParser& parser, const PostRows& rows, const PackStats& stats) {
  if (rows.num_rows() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(parser.GetString("in"),
                                                   ": no example fits (", stats.dropped,
                                                   " dropped); raise --seq?"));
  }
  const std::string summary = PackSummary(rows, stats);
  HS_RETURN_IF_ERROR(WritePostRows(parser.GetString("out"), rows, summary));
  std::printf("%swrote %s\n", summary.c_str(), parser.GetString("out").c_str());
  return absl::OkStatus();
}

absl::Status PrepareSft(const cli::ArgParser& parser) {
  HS_ASSIGN_OR_RETURN(Prepared p, Open(parser));
  p.ctx.tokenizer = &p.tokenizer;
  std::vector<TokenizedExample> examples;
  for (size_t i = 0; i < p.lines.size(); ++i) {
    if (absl::StripAsciiWhitespace(p.lines[i]).empty()) continue;
    const std::string where = absl::StrCat(parser.GetString("in"), ":", i + 1);
    HS_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, ParseConversation(p.lines[i], where));
    absl::StatusOr<TokenizedExample> ex =
        TokenizeConversation(messages, p.ctx, parser.GetBool("train-on-prompt"));
    if (!ex.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", ex.status().message()));
    examples.push_back(*std::move(ex));
  }
  PackStats stats;
  PostRows rows = PackBestFitDecreasing(examples, parser.GetInt("seq"), p.tokenizer.vocab_size(),
                                        parser.GetBool("drop-long"), &stats);
  return Finish(parser, rows, stats);
}

absl::Status PrepareDpo(const cli::ArgParser& parser) {
  HS_ASSIGN_OR_RETURN(Prepared p, Open(parser));
  p.ctx.tokenizer = &p.tokenizer;
  std::vector<TokenizedPair> pairs;
  for (size_t i = 0; i < p.lines.size(); ++i) {
    if (absl::StripAsciiWhitespace(p.lines[i]).empty()) continue;
    const std::string where = absl::StrCat(parser.GetString("in"), ":", i + 1);
    HS_ASSIGN_OR_RETURN(TokenizedPair pair, ParsePreference(p.lines[i], where, p.ctx));
    pairs.push_back(std::move(pair));
  }
  PackStats stats;
  PostRows rows = PairRows(pairs, parser.GetInt("seq"), p.tokenizer.vocab_size(), &stats);
  return Finish(parser, rows, stats);
}

int RunPrepareSft(int argc, char** argv) {
  cli::ArgParser parser("hai data prepare-sft");
  AddPrepareFlags(parser);
  parser.AddBool("train-on-prompt", "train on every token, not only the assistant replies");
  parser.AddBool("drop-long", "drop examples longer than --seq instead of truncating them");
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  if (absl::Status s = PrepareSft(parser); !s.ok()) return Fail(s);
  return 0;
}

int RunPrepareDpo(int argc, char** argv) {
  cli::ArgParser parser("hai data prepare-dpo");
  AddPrepareFlags(parser);
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  if (absl::Status s = PrepareDpo(parser); !s.ok()) return Fail(s);
  return 0;
}

// `hai data make-task TASK ...`; TASK is `addition` (the only one so far).
int RunMakeTask(int argc, char** argv) {
  cli::ArgParser parser("hai data make-task addition");
  parser.AllowPositional();
  parser.AddInt("digits", 3, "operands have up to this many digits");
  parser.AddInt("train", 2000, "training problems");
  parser.AddInt("eval", 200, "held-out problems (none also in training)");
  parser.AddInt("seed", 1, "seed of the problems");
  parser.AddString("out", "", "output directory");
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  if (parser.positional().size() != 1 || parser.positional()[0] != "addition") {
    std::fprintf(stderr, "usage: hai data make-task addition [flags] (tasks: addition)\n\n%s",
                 parser.Usage().c_str());
    return 2;
  }
  if (parser.GetString("out").empty()) return Fail(absl::InvalidArgumentError("--out is required"));
  AdditionTaskOptions o;
  o.digits = int(parser.GetInt("digits"));
  o.train = parser.GetInt("train");
  o.eval = parser.GetInt("eval");
  o.seed = uint64_t(parser.GetInt("seed"));
  if (absl::Status s = MakeAdditionTask(o, parser.GetString("out")); !s.ok()) return Fail(s);
  std::printf("wrote %lld training and %lld held-out problems to %s "
              "(sft_train.jsonl, dpo_train.jsonl, eval.jsonl, corpus.txt)\n",
              (long long)o.train, (long long)o.eval, parser.GetString("out").c_str());
  return 0;
}

HS_REGISTER_SUBCOMMAND("data prepare-sft",
                       "tokenize conversations (JSONL) into packed SFT rows with a loss mask",
                       RunPrepareSft);
HS_REGISTER_SUBCOMMAND("data prepare-dpo",
                       "tokenize preference pairs (JSONL) into DPO rows", RunPrepareDpo);
HS_REGISTER_SUBCOMMAND("data make-task",
                       "write a verifiable task: addition (SFT, DPO pairs, held-out split)",
                       RunMakeTask);

}  // namespace
}  // namespace hs::data::post
