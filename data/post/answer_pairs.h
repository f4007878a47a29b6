// File: data/post/answer_pairs.h
//
// On-policy preference pairs from a model's own answers: the records
// `hai eval-task --out` writes (one per answer, several per prompt when it
// samples) become DPO pairs with the reference reply as "chosen" and each
// distinct wrong answer of the model as "rejected" — the model's actual
// mistakes rather than made-up ones.
//
// Input records (JSONL):
//   {"prompt_messages": [{"role": "user", "content": "12+34="}],
//    "reference": "46", "answer": "45", ...}
// Output records (prepare-dpo's input):
//   {"prompt": "12+34=", "chosen": "46", "rejected": "45"}
// A prompt that is a single user message is written as a string, any other
// as its message list. An answer is wrong when it differs from the
// reference (both trimmed, as eval-task compares them).
#ifndef DATA_POST_ANSWER_PAIRS_H_
#define DATA_POST_ANSWER_PAIRS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hs::data::post {

struct AnswerPairOptions {
  // At most this many distinct wrong answers of one prompt become pairs
  // (the first ones in the file); 0: all of them.
  int64_t max_per_prompt = 0;
};

struct AnswerPairStats {
  int64_t answers = 0;          // records read
  int64_t prompts = 0;          // distinct prompts
  int64_t wrong = 0;            // answers that differ from the reference
  int64_t duplicates = 0;       // wrong answers already paired for their prompt
  int64_t over_limit = 0;       // distinct wrong answers beyond max_per_prompt
  int64_t all_correct = 0;      // prompts without a wrong answer (no pair)
  int64_t pairs = 0;            // records written
  int64_t prompts_paired = 0;   // prompts with at least one pair
};

struct AnswerPairs {
  std::string jsonl;  // the pairs, one JSON object a line, prompts in input order
  AnswerPairStats stats;
};

// PairsFromAnswers(answers_jsonl, name, options): the pairs. Errors name
// `name`:line and the field (a record without "prompt_messages",
// "reference" or "answer", a malformed message). Answers of one prompt need
// not be adjacent; a prompt's records must agree on the reference.
absl::StatusOr<AnswerPairs> PairsFromAnswers(std::string_view answers_jsonl, std::string_view name,
                                             const AnswerPairOptions& options);

// AnswerPairSummary: the line `hai data make-pairs` prints.
std::string AnswerPairSummary(const AnswerPairStats& stats);

}  // namespace hs::data::post

#endif  // DATA_POST_ANSWER_PAIRS_H_
