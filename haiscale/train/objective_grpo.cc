// File: haiscale/train/objective_grpo.cc — see objective_grpo.h.
#include "haiscale/train/objective_grpo.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "data/chat/chat_template.h"
#include "data/permutation.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/rl/grpo_step.h"
#include "haiscale/rl/reward_command.h"
#include "haiscale/rl/rewards.h"
#include "haiscale/status.h"

namespace hs::train {
namespace {

using config::GrpoConfig;

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("objective.grpo.", field, ": ", what));
}

// The prompts JSONL, each record's prompt encoded (chat_format applied).
absl::StatusOr<std::vector<rl::GrpoPrompt>> ReadPrompts(const GrpoConfig& g,
                                                        const data::Tokenizer& tok,
                                                        int64_t vocab) {
  const std::string& path = g.prompts_path();
  if (path.empty()) return FieldError("prompts_path", "is required");
  HS_ASSIGN_OR_RETURN(std::string text, io::ReadFileToString(path));
  std::optional<data::ChatFormat> format;
  data::ChatSpecialTokens special;
  if (!g.chat_format().empty() && g.chat_format() != "none") {
    absl::StatusOr<data::ChatFormat> f = data::ParseChatFormat(g.chat_format());
    if (!f.ok()) return FieldError("chat_format", std::string(f.status().message()));
    format = *f;
    std::vector<std::string> added;
    for (const auto& t : tok.added_tokens()) added.push_back(t.content);
    HS_ASSIGN_OR_RETURN(special, data::ChatSpecialTokensOf(added));
  }
  std::vector<rl::GrpoPrompt> prompts;
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(path, ":", i + 1);
    nlohmann::json record = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    if (!record.is_object() || !record.contains("prompt") || !record["prompt"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected a JSON object with a string \"prompt\""));
    }
    std::string prompt = record["prompt"].get<std::string>();
    if (format.has_value()) {
      absl::StatusOr<std::string> rendered =
          data::RenderChat({{"user", prompt}}, *format, special, /*add_generation_prompt=*/true);
      if (!rendered.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", rendered.status().message()));
      }
      prompt = *std::move(rendered);
    }
    rl::GrpoPrompt p;
    for (uint32_t id : tok.Encode(prompt)) p.tokens.push_back(int32_t(id));
    if (p.tokens.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty prompt"));
    for (int32_t id : p.tokens) {
      if (id >= vocab) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": token id ", id,
                                                       " is outside the model's vocabulary (",
                                                       vocab, ")"));
      }
    }
    p.record = std::move(record);
    prompts.push_back(std::move(p));
  }
  if (prompts.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no prompts"));
  return prompts;
}

// MakeReward(r, field, max_tokens): the reward function one RewardConfig
// describes; errors name the field.
absl::StatusOr<std::unique_ptr<rl::RewardFunction>> MakeReward(const config::RewardConfig& r,
                                                                const std::string& field,
                                                                int64_t max_tokens) {
  if (r.name().empty()) return FieldError(field + ".name", "is required");
  const int kinds = int(r.has_exact_match()) + int(r.has_format()) +
                    int(r.has_length_penalty()) + int(r.has_command());
  if (kinds != 1) {
    return FieldError(field, absl::StrCat("set exactly one of exact_match, format, "
                                          "length_penalty, command (", kinds, " set)"));
  }
  if (r.has_exact_match()) {
    if (r.exact_match().field().empty()) return FieldError(field + ".exact_match.field", "is required");
    absl::StatusOr<std::unique_ptr<data::Regex>> re = data::Regex::Compile(
        r.exact_match().has_answer_pattern() ? r.exact_match().answer_pattern() : "-?[0-9]+");
    if (!re.ok()) {
      return FieldError(field + ".exact_match.answer_pattern", std::string(re.status().message()));
    }
    return rl::MakeExactMatchReward(r.name(), r.exact_match().field(), *std::move(re));
  }
  if (r.has_format()) {
    absl::StatusOr<std::unique_ptr<data::Regex>> re = rl::CompileWholeMatch(r.format().pattern());
    if (!re.ok()) return FieldError(field + ".format.pattern", std::string(re.status().message()));
    return rl::MakeFormatReward(r.name(), *std::move(re));
  }
  if (r.has_length_penalty()) {
    const int64_t soft = r.length_penalty().soft_tokens();
    if (soft < 0 || soft > max_tokens) {
      return FieldError(field + ".length_penalty.soft_tokens",
                        absl::StrCat("must be in [0, max_completion_tokens = ", max_tokens,
                                     "], got ", soft));
    }
    return rl::MakeLengthPenalty(r.name(), max_tokens, soft);
  }
  absl::StatusOr<std::unique_ptr<rl::RewardCommand>> cmd = rl::RewardCommand::Start(
      r.name(), r.command().command(),
      r.command().has_timeout_seconds() ? r.command().timeout_seconds() : 60.0);
  if (!cmd.ok()) return FieldError(field + ".command", std::string(cmd.status().message()));
  return std::unique_ptr<rl::RewardFunction>(*std::move(cmd));
}

absl::Status AddRewards(const GrpoConfig& g, int64_t max_tokens, rl::RewardSet* set) {
  if (g.rewards_size() == 0) return FieldError("rewards", "at least one reward is required");
  for (int i = 0; i < g.rewards_size(); ++i) {
    const std::string field = absl::StrCat("rewards[", i, "]");
    HS_ASSIGN_OR_RETURN(std::unique_ptr<rl::RewardFunction> fn,
                        MakeReward(g.rewards(i), field, max_tokens));
    const double weight = g.rewards(i).has_weight() ? g.rewards(i).weight() : 1.0;
    absl::Status added = set->Add(std::move(fn), weight);
    if (!added.ok()) return FieldError(field, std::string(added.message()));
  }
  return absl::OkStatus();
}

class GrpoObjective final : public Objective {
 public:
  absl::StatusOr<MetricSums> ForwardBackward(int64_t step, ModelRunner& runner) override {
    models::DeepseekV2Model* model = runner.whole_model();
    if (model == nullptr) {
      return absl::FailedPreconditionError(
          "objective.type GRPO needs the whole CPU model (no parallel.pp, train.device CPU)");
    }
    std::vector<rl::GrpoPrompt> batch;
    const int64_t n = int64_t(prompts_.size());
    for (int64_t j = 0; j < prompts_per_step_; ++j) {
      const int64_t i = step * prompts_per_step_ + j;
      data::KeyedPermutation perm(uint64_t(n), seed_, uint64_t(i / n));
      batch.push_back(prompts_[size_t(perm(uint64_t(i % n)))]);
    }
    auto decode = [this](const std::vector<int32_t>& ids) -> absl::StatusOr<std::string> {
      std::vector<uint32_t> u;
      for (int32_t id : ids) {
        if (id < tok_->vocab_size()) u.push_back(uint32_t(id));  // ids beyond the tokenizer: dropped
      }
      return tok_->Decode(u, {.skip_special_tokens = true});
    };
    HS_ASSIGN_OR_RETURN(rl::GrpoStepStats s,
                        rl::GrpoStep(model, nullptr, batch, rewards_, decode, options_, step,
                                     [](int) { return absl::OkStatus(); }));
    MetricSums sums;
    sums.Add("loss", s.losses.back());
    sums.Add("reward", s.reward_mean);
    sums.Add("reward_std", s.reward_std);
    for (int f = 0; f < rewards_.size(); ++f) {
      sums.Add("reward/" + rewards_.name(f), s.reward_function_means[size_t(f)]);
    }
    sums.Add("frac_reward_zero_std", s.frac_reward_zero_std);
    sums.Add("clip_ratio/low", s.clip_ratio_low);
    sums.Add("clip_ratio/high", s.clip_ratio_high);
    sums.Add("entropy", s.entropy);
    sums.Add("completion_length/mean", s.completion_length_mean);
    sums.Add("completion_length/max", double(s.completion_length_max));
    sums.Add("completion_length/clipped_ratio", s.clipped_fraction);
    sums.Add("rollout_seconds", s.rollout_seconds);
    sums.Add("update_seconds", s.update_seconds);
    sums.Add("rollout_tokens_per_s",
             s.rollout_seconds > 0 ? double(s.rollout_tokens) / s.rollout_seconds : 0.0);
    return sums;
  }

  void Report(const MetricSums& job, StepMetrics* m) const override {
    m->loss = job.Get("loss");
    for (const std::string& name : job.names()) {
      if (name != "loss") m->objective.push_back({name, job.Get(name)});
    }
  }

  bool has_eval() const override { return false; }
  absl::StatusOr<EvalResult> Evaluate(ModelRunner&) override {
    return absl::UnimplementedError("objective.type GRPO has no held-out evaluation");
  }

  std::unique_ptr<data::Tokenizer> tok_;
  std::vector<rl::GrpoPrompt> prompts_;
  rl::RewardSet rewards_;
  rl::GrpoOptions options_;
  int64_t prompts_per_step_ = 4;
  uint64_t seed_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Objective>> MakeGrpoObjective(const config::RunConfig& config,
                                                             const parallel::ParallelContext* ctx) {
  const GrpoConfig& g = config.objective().grpo();
  if (ctx != nullptr && ctx->dp_size() > 1) {
    return absl::UnimplementedError(absl::StrCat(
        "objective.type GRPO runs in one process for now; parallel.dp is ", ctx->dp_size()));
  }
  if (config.parallel().pp() > 1) {
    return absl::UnimplementedError("objective.type GRPO does not support parallel.pp > 1");
  }
  if (config.train().eval_every() > 0) {
    return absl::InvalidArgumentError(
        "train.eval_every: objective.type GRPO has no held-out loss (use hai eval-task); set 0");
  }
  auto o = std::make_unique<GrpoObjective>();
  rl::GrpoOptions& opt = o->options_;
  opt.num_generations = g.has_num_generations() ? g.num_generations() : 8;
  if (opt.num_generations < 2) {
    return FieldError("num_generations", absl::StrCat("must be at least 2, got ", opt.num_generations));
  }
  opt.max_completion_tokens = g.has_max_completion_tokens() ? g.max_completion_tokens() : 64;
  if (opt.max_completion_tokens < 1) return FieldError("max_completion_tokens", "must be >= 1");
  opt.sampling.temperature = g.has_temperature() ? g.temperature() : 1.0;
  opt.sampling.top_p = g.has_top_p() ? g.top_p() : 1.0;
  opt.sampling.top_k = g.top_k();
  if (!(opt.sampling.temperature > 0)) {
    return FieldError("temperature", "must be > 0 (GRPO needs different samples per group)");
  }
  absl::Status sampling = models::decode::CheckSamplingParams(opt.sampling);
  if (!sampling.ok()) return FieldError("top_p / top_k", std::string(sampling.message()));
  opt.scale_rewards = g.scale_rewards() == GrpoConfig::BATCH  ? rl::ScaleRewards::kBatch
                      : g.scale_rewards() == GrpoConfig::NONE ? rl::ScaleRewards::kNone
                                                              : rl::ScaleRewards::kGroup;
  switch (g.loss_type()) {
    case GrpoConfig::BNPO: opt.loss_type = rl::LossType::kBnpo; break;
    case GrpoConfig::DAPO: opt.loss_type = rl::LossType::kDapo; break;
    case GrpoConfig::DR_GRPO: opt.loss_type = rl::LossType::kDrGrpo; break;
    default: opt.loss_type = rl::LossType::kGrpo; break;
  }
  opt.clip.epsilon_low = g.has_epsilon_low() ? g.epsilon_low() : 0.2;
  opt.clip.epsilon_high = g.has_epsilon_high() ? g.epsilon_high() : opt.clip.epsilon_low;
  if (!(opt.clip.epsilon_low >= 0 && opt.clip.epsilon_low < 1)) {
    return FieldError("epsilon_low", "must be in [0, 1)");
  }
  if (!(opt.clip.epsilon_high >= 0)) return FieldError("epsilon_high", "must be >= 0");
  if (g.beta() != 0) {
    return FieldError("beta", "only 0 is supported by hai train yet (no reference model)");
  }
  if (g.has_num_iterations() && g.num_iterations() != 1) {
    return FieldError("num_iterations", "only 1 is supported by hai train yet");
  }
  opt.decode_batch = g.decode_batch() > 0 ? g.decode_batch() : int64_t(1) << 40;
  opt.stop_token_ids = {int32_t(config.model().eos_token_id())};
  opt.seed = uint64_t(config.train().seed());
  o->seed_ = uint64_t(config.train().seed());
  o->prompts_per_step_ = g.has_prompts_per_step() ? g.prompts_per_step() : 4;
  if (o->prompts_per_step_ < 1) return FieldError("prompts_per_step", "must be >= 1");
  if (g.tokenizer_path().empty()) return FieldError("tokenizer_path", "is required");
  absl::StatusOr<data::Tokenizer> tok = data::Tokenizer::LoadFile(g.tokenizer_path());
  if (!tok.ok()) return FieldError("tokenizer_path", std::string(tok.status().message()));
  o->tok_ = std::make_unique<data::Tokenizer>(*std::move(tok));
  HS_ASSIGN_OR_RETURN(o->prompts_, ReadPrompts(g, *o->tok_, config.model().vocab_size()));
  HS_RETURN_IF_ERROR(AddRewards(g, opt.max_completion_tokens, &o->rewards_));
  return std::unique_ptr<Objective>(std::move(o));
}

}  // namespace hs::train
