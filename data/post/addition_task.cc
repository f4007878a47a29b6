// File: data/post/addition_task.cc — see addition_task.h.
#include "data/post/addition_task.h"

#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "nlohmann/json.hpp"

namespace hs::data::post {
namespace {

int64_t Pow10(int d) {
  int64_t p = 1;
  while (d-- > 0) p *= 10;
  return p;
}

}  // namespace

int64_t WrongSum(int64_t a, int64_t b, uint64_t pick) {
  const int64_t sum = a + b;
  // Digit-wise sum modulo 10: what forgetting every carry gives.
  int64_t no_carry = 0;
  for (int64_t x = a, y = b, place = 1; x > 0 || y > 0; x /= 10, y /= 10, place *= 10) {
    no_carry += ((x % 10 + y % 10) % 10) * place;
  }
  if (no_carry != sum && pick % 2 == 0) return no_carry;
  // Change one digit of the sum to another (never a leading zero).
  const std::string s = std::to_string(sum);
  const size_t at = (pick / 2) % s.size();
  const int old = s[at] - '0';
  int digit = int((old + 1 + (pick / 2 / s.size()) % 9) % 10);
  if (at == 0 && digit == 0 && s.size() > 1) digit = old == 1 ? 2 : 1;
  std::string w = s;
  w[at] = char('0' + digit);
  return std::stoll(w);
}

absl::Status MakeAdditionTask(const AdditionTaskOptions& opts, const std::string& dir) {
  if (opts.digits < 1 || opts.digits > 9) {
    return absl::InvalidArgumentError(absl::StrCat("--digits must be in [1, 9], got ", opts.digits));
  }
  if (opts.train < 1 || opts.eval < 0) {
    return absl::InvalidArgumentError("--train must be >= 1 and --eval >= 0");
  }
  const int64_t range = Pow10(opts.digits);
  if (opts.train + opts.eval > range * range / 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        opts.train + opts.eval, " problems requested; ", opts.digits,
        "-digit addition has ", range * range, " (ask for at most half)"));
  }
  std::mt19937_64 rng(opts.seed);
  std::set<std::pair<int64_t, int64_t>> seen;
  std::vector<std::pair<int64_t, int64_t>> problems;
  while (int64_t(problems.size()) < opts.train + opts.eval) {
    const int64_t a = int64_t(rng() % uint64_t(range)), b = int64_t(rng() % uint64_t(range));
    if (seen.insert({a, b}).second) problems.push_back({a, b});
  }
  std::string sft, dpo, eval, corpus;
  for (size_t i = 0; i < problems.size(); ++i) {
    const auto [a, b] = problems[i];
    const std::string prompt = absl::StrCat(a, "+", b, "="), answer = absl::StrCat(a + b);
    const nlohmann::json qa = {{"prompt", prompt}, {"completion", answer}};
    absl::StrAppend(&corpus, prompt, answer, "\n");
    if (int64_t(i) >= opts.train) {
      absl::StrAppend(&eval, qa.dump(), "\n");
      continue;
    }
    absl::StrAppend(&sft, qa.dump(), "\n");
    const nlohmann::json pair = {
        {"prompt", prompt}, {"chosen", answer}, {"rejected", absl::StrCat(WrongSum(a, b, rng()))}};
    absl::StrAppend(&dpo, pair.dump(), "\n");
  }
  HS_RETURN_IF_ERROR(io::CreateDirectories(dir));
  HS_RETURN_IF_ERROR(io::WriteFileAtomically(dir + "/sft_train.jsonl", sft));
  HS_RETURN_IF_ERROR(io::WriteFileAtomically(dir + "/dpo_train.jsonl", dpo));
  HS_RETURN_IF_ERROR(io::WriteFileAtomically(dir + "/eval.jsonl", eval));
  return io::WriteFileAtomically(dir + "/corpus.txt", corpus);
}

}  // namespace hs::data::post
