// File: haiscale/rl/rewards.cc
#include "haiscale/rl/rewards.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"

namespace hs::rl {

std::string_view TrimAscii(std::string_view text) {
  const char* ws = " \t\n\r\f\v";
  const size_t begin = text.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(ws) + 1 - begin);
}

std::optional<std::string> ExtractAnswer(std::string_view text, const data::Regex& pattern) {
  std::optional<std::string> last;
  pattern.ForEachMatch(text, [&](size_t begin, size_t end) {
    last = std::string(TrimAscii(text.substr(begin, end - begin)));
  });
  return last;
}

absl::StatusOr<std::string> RecordFieldText(const nlohmann::json& record, const std::string& field) {
  if (!record.is_object() || !record.contains(field)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt record has no field \"", field, "\" (the reward's answer field)"));
  }
  const nlohmann::json& value = record[field];
  if (value.is_string()) {
    return std::string(TrimAscii(value.get<std::string>()));
  }
  return value.dump();  // integers in decimal; other values as compact JSON
}

absl::StatusOr<double> ExactMatchReward(const nlohmann::json& record, std::string_view text,
                                        const std::string& field, const data::Regex& answer) {
  HS_ASSIGN_OR_RETURN(std::string expected, RecordFieldText(record, field));
  std::optional<std::string> got = ExtractAnswer(text, answer);
  return got.has_value() && *got == expected ? 1.0 : 0.0;
}

absl::StatusOr<std::unique_ptr<data::Regex>> CompileWholeMatch(std::string_view pattern) {
  // \A and \z anchor at the subject's ends whatever the line-mode flags.
  return data::Regex::Compile(absl::StrCat("\\A(?:", std::string(pattern), ")\\z"));
}

double FormatReward(std::string_view text, const data::Regex& whole) {
  const size_t last = text.find_last_not_of(" \t\n\r\f\v");
  std::string_view trimmed = last == std::string_view::npos ? text.substr(0, 0) : text.substr(0, last + 1);
  bool matched = false;
  whole.ForEachMatch(trimmed, [&](size_t, size_t) { matched = true; });
  return matched ? 1.0 : 0.0;
}

double LengthPenalty(int64_t tokens, bool truncated, int64_t max_tokens, int64_t soft_tokens) {
  if (truncated || tokens >= max_tokens) return -1.0;
  const int64_t free_tokens = max_tokens - soft_tokens;
  if (tokens <= free_tokens || soft_tokens <= 0) return 0.0;
  return -double(tokens - free_tokens) / double(soft_tokens);
}

namespace {

// A reward function built from a per-completion rule.
template <typename Rule>
class RuleReward : public RewardFunction {
 public:
  RuleReward(std::string name, Rule rule) : name_(std::move(name)), rule_(std::move(rule)) {}
  const std::string& name() const override { return name_; }
  absl::StatusOr<std::vector<double>> Score(const std::vector<Completion>& batch) override {
    std::vector<double> out;
    out.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      absl::StatusOr<double> r = rule_(batch[i]);
      if (!r.ok()) return Annotate(r.status(), "reward ", name_, ", completion ", i);
      out.push_back(*r);
    }
    return out;
  }

 private:
  std::string name_;
  Rule rule_;
};

template <typename Rule>
std::unique_ptr<RewardFunction> MakeRule(std::string name, Rule rule) {
  return std::make_unique<RuleReward<Rule>>(std::move(name), std::move(rule));
}

const nlohmann::json& RecordOf(const Completion& c) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  return c.record != nullptr ? *c.record : kEmpty;
}

}  // namespace

std::unique_ptr<RewardFunction> MakeExactMatchReward(std::string name, std::string field,
                                                     std::unique_ptr<data::Regex> answer) {
  std::shared_ptr<data::Regex> re = std::move(answer);
  return MakeRule(std::move(name), [field, re](const Completion& c) {
    return ExactMatchReward(RecordOf(c), c.text, field, *re);
  });
}

std::unique_ptr<RewardFunction> MakeFormatReward(std::string name,
                                                 std::unique_ptr<data::Regex> whole) {
  std::shared_ptr<data::Regex> re = std::move(whole);
  return MakeRule(std::move(name), [re](const Completion& c) -> absl::StatusOr<double> {
    return FormatReward(c.text, *re);
  });
}

std::unique_ptr<RewardFunction> MakeLengthPenalty(std::string name, int64_t max_tokens,
                                                  int64_t soft_tokens) {
  return MakeRule(std::move(name),
                  [max_tokens, soft_tokens](const Completion& c) -> absl::StatusOr<double> {
                    return LengthPenalty(c.tokens, c.truncated, max_tokens, soft_tokens);
                  });
}

absl::Status RewardSet::Add(std::unique_ptr<RewardFunction> fn, double weight) {
  for (const auto& f : functions_) {
    if (f->name() == fn->name()) {
      return absl::InvalidArgumentError(absl::StrCat("two reward functions named \"", fn->name(),
                                                     "\": names must be unique"));
    }
  }
  if (!std::isfinite(weight)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward ", fn->name(), ": weight must be finite, got ", weight));
  }
  functions_.push_back(std::move(fn));
  weights_.push_back(weight);
  return absl::OkStatus();
}

absl::StatusOr<BatchRewards> RewardSet::Score(const std::vector<Completion>& batch) {
  BatchRewards out;
  out.total.assign(batch.size(), 0.0);
  for (size_t f = 0; f < functions_.size(); ++f) {
    HS_ASSIGN_OR_RETURN(std::vector<double> scores, functions_[f]->Score(batch));
    if (scores.size() != batch.size()) {
      return absl::InternalError(absl::StrCat("reward ", functions_[f]->name(), " returned ",
                                              scores.size(), " scores for ", batch.size(),
                                              " completions"));
    }
    for (size_t i = 0; i < batch.size(); ++i) out.total[i] += weights_[f] * scores[i];
    out.per_function.push_back(std::move(scores));
  }
  return out;
}

}  // namespace hs::rl
