// File: data/post/addition_task.h
//
// A small verifiable task: N-digit addition ("123+45=" -> "168"), with a
// held-out split that shares no problem with the training one.
//
//   DIR/sft_train.jsonl   {"prompt": "123+45=", "completion": "168"}
//   DIR/dpo_train.jsonl   {"prompt": ..., "chosen": "168", "rejected": "158"}
//                         (the rejected answer drops a carry when the sum
//                         has one, else changes one digit)
//   DIR/eval.jsonl        held-out {"prompt", "completion"}
//   DIR/corpus.txt        every problem and answer, one per line, to train
//                         a tokenizer on
#ifndef DATA_POST_ADDITION_TASK_H_
#define DATA_POST_ADDITION_TASK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace hs::data::post {

struct AdditionTaskOptions {
  int digits = 3;     // operands in [0, 10^digits)
  int64_t train = 0;  // training problems
  int64_t eval = 0;   // held-out problems
  uint64_t seed = 1;
};

// WrongSum(a, b, pick): a wrong answer to a + b (the sum without carries
// when it differs, else one digit changed; `pick` chooses which).
int64_t WrongSum(int64_t a, int64_t b, uint64_t pick);

// MakeAdditionTask(opts, dir): writes the files above (atomically). Errors
// when the requested problems exceed the distinct ones of that many digits.
absl::Status MakeAdditionTask(const AdditionTaskOptions& opts, const std::string& dir);

}  // namespace hs::data::post

#endif  // DATA_POST_ADDITION_TASK_H_
