// File: data/post/make_pairs_cli.cc
//
//   hai data make-pairs --answers answers.jsonl --out pairs.jsonl [--max-per-prompt N]
//
// On-policy DPO pairs (answer_pairs.h): the reference reply chosen, each
// distinct wrong answer the model gave (`hai eval-task --out`, greedy or
// sampled with --samples/--temperature) rejected. The output is
// `hai data prepare-dpo`'s input.
//
// Exit codes: 0 success, 1 the operation failed, 2 bad flags.
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "data/post/answer_pairs.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data::post {
namespace {

absl::Status MakePairs(const cli::ArgParser& parser) {
  const std::string in = parser.GetString("answers");
  HS_ASSIGN_OR_RETURN(std::string text, io::ReadFileToString(in));
  AnswerPairOptions options;
  options.max_per_prompt = parser.GetInt("max-per-prompt");
  HS_ASSIGN_OR_RETURN(AnswerPairs pairs, PairsFromAnswers(text, in, options));
  if (pairs.stats.pairs == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(in, ": every answer is correct, no pair to write (",
                     AnswerPairSummary(pairs.stats), ")"));
  }
  HS_RETURN_IF_ERROR(io::WriteFileAtomically(parser.GetString("out"), pairs.jsonl));
  std::printf("%s\nwrote %s\n", AnswerPairSummary(pairs.stats).c_str(),
              parser.GetString("out").c_str());
  return absl::OkStatus();
}

int RunMakePairs(int argc, char** argv) {
  cli::ArgParser parser("hai data make-pairs");
  parser.AddString("answers", "", "a model's answers: JSONL from hai eval-task --out");
  parser.AddString("out", "", "preference pairs JSONL to write (hai data prepare-dpo's input)");
  parser.AddInt("max-per-prompt", 0, "distinct wrong answers kept per prompt (0: all)");
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  if (absl::Status s = parser.RequireStrings({"answers", "out"}); !s.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(s.message()).c_str(), parser.Usage().c_str());
    return 2;
  }
  if (parser.GetInt("max-per-prompt") < 0) {
    std::fprintf(stderr, "--max-per-prompt must be >= 0, got %lld\n",
                 (long long)parser.GetInt("max-per-prompt"));
    return 2;
  }
  if (absl::Status s = MakePairs(parser); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("data make-pairs",
                       "on-policy DPO pairs from a model's answers (reference vs its wrong answers)",
                       RunMakePairs);

}  // namespace
}  // namespace hs::data::post
