// File: haiscale/rl/rewards.h
//
// Rule rewards for reinforcement learning on generated completions. Each is
// a plain function of the prompt record (one parsed line of the prompts
// JSONL, `{"prompt": ..., plus whatever fields the reward needs}`) and the
// completion text:
//   * exact match: the answer extracted from the completion (the last match
//     of a pattern, e.g. the last integer) equals a field of the record;
//   * format: the whole completion matches a pattern;
//   * length penalty: 0 up to a soft limit, then falling linearly to -1 at
//     the maximum completion length (a truncated completion gets -1).
// RewardSet combines several reward functions (these and the external
// command of reward_command.h) with weights.
#ifndef HAISCALE_RL_REWARDS_H_
#define HAISCALE_RL_REWARDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "data/tokenizer/regex.h"
#include "nlohmann/json.hpp"

namespace hs::rl {

// One completion to score.
struct Completion {
  const nlohmann::json* record = nullptr;  // its prompt's record (an object)
  std::string text;                        // the generated text
  int64_t tokens = 0;                      // generated tokens
  bool truncated = false;                  // stopped at the maximum length
};

// TrimAscii(text): text without leading and trailing ASCII whitespace.
std::string_view TrimAscii(std::string_view text);

// ExtractAnswer(text, pattern): the last match of `pattern` in `text`,
// surrounding whitespace removed; nullopt when nothing matches.
std::optional<std::string> ExtractAnswer(std::string_view text, const data::Regex& pattern);

// RecordFieldText(record, field): the field as text to compare with an
// extracted answer (strings as they are, integers in decimal, other values
// as compact JSON). Errors name the missing field.
absl::StatusOr<std::string> RecordFieldText(const nlohmann::json& record, const std::string& field);

// ExactMatchReward: 1 when the extracted answer equals record[field], else 0.
absl::StatusOr<double> ExactMatchReward(const nlohmann::json& record, std::string_view text,
                                        const std::string& field, const data::Regex& answer);

// FormatReward(text, whole): 1 when `whole` (a pattern compiled with
// CompileWholeMatch) matches the completion, trailing whitespace aside.
double FormatReward(std::string_view text, const data::Regex& whole);
absl::StatusOr<std::unique_ptr<data::Regex>> CompileWholeMatch(std::string_view pattern);

// LengthPenalty(tokens, truncated, max_tokens, soft_tokens): 0 for at most
// max_tokens - soft_tokens tokens, then linearly down to -1 at max_tokens;
// -1 when truncated.
double LengthPenalty(int64_t tokens, bool truncated, int64_t max_tokens, int64_t soft_tokens);

// A reward function over a batch of completions (in order).
class RewardFunction {
 public:
  virtual ~RewardFunction() = default;
  virtual const std::string& name() const = 0;
  virtual absl::StatusOr<std::vector<double>> Score(const std::vector<Completion>& batch) = 0;
};

std::unique_ptr<RewardFunction> MakeExactMatchReward(std::string name, std::string field,
                                                     std::unique_ptr<data::Regex> answer);
std::unique_ptr<RewardFunction> MakeFormatReward(std::string name,
                                                 std::unique_ptr<data::Regex> whole);
std::unique_ptr<RewardFunction> MakeLengthPenalty(std::string name, int64_t max_tokens,
                                                  int64_t soft_tokens);

// Rewards of a batch: each function's scores and their weighted sum.
struct BatchRewards {
  std::vector<std::vector<double>> per_function;  // [function][completion]
  std::vector<double> total;                      // [completion]
};

class RewardSet {
 public:
  // Add(fn, weight): names must be unique.
  absl::Status Add(std::unique_ptr<RewardFunction> fn, double weight);
  absl::StatusOr<BatchRewards> Score(const std::vector<Completion>& batch);
  int size() const { return int(functions_.size()); }
  const std::string& name(int i) const { return functions_[size_t(i)]->name(); }

 private:
  std::vector<std::unique_ptr<RewardFunction>> functions_;
  std::vector<double> weights_;
};

}  // namespace hs::rl

#endif  // HAISCALE_RL_REWARDS_H_
