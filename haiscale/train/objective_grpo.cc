// File: haiscale/train/objective_grpo.cc — see objective_grpo.h.
#include "haiscale/train/objective_grpo.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "data/chat/chat_template.h"
#include "data/permutation.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/clock.h"
#include "haiscale/config/model_config_convert.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/rl/grpo_step.h"
#include "haiscale/rl/rollout_file.h"
#include "haiscale/rl/reward_command.h"
#include "haiscale/rl/rewards.h"
#include "haiscale/status.h"
#include "haiscale/train/hf_weights.h"
#include "parallel/expert_parallel.h"

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

// The whole model's options for the frozen reference (its parameters are
// copied or loaded, never initialised).
models::ModelOptions ReferenceOptions(const config::RunConfig& config) {
  models::ModelOptions mo;
  mo.seed = config.train().seed();
  mo.max_seq_len = std::max<int64_t>(config.train().seq_len(), 1);
  mo.params_from_file = true;
  return mo;
}

class GrpoObjective final : public Objective {
 public:
  absl::StatusOr<MetricSums> ForwardBackward(int64_t step, ModelRunner& runner) override {
    models::DeepseekV2Model* model = runner.whole_model();
    if (model == nullptr) {
      return absl::FailedPreconditionError(
          "objective.type GRPO needs the whole CPU model (no parallel.pp, train.device CPU)");
    }
    // Generation batch `generation` serves steps generation * μ .. + μ - 1.
    const int64_t mu = options_.num_iterations;
    const int64_t generation = step / mu, iteration = step % mu;
    if (rollouts_generation_ != generation) {
      if (iteration == 0) {
        if (options_.clip.beta != 0) HS_RETURN_IF_ERROR(ReadyReference(step, *model));
        auto decode = [this](const std::vector<int32_t>& ids) -> absl::StatusOr<std::string> {
          std::vector<uint32_t> u;
          for (int32_t id : ids) {
            if (id < tok_->vocab_size()) u.push_back(uint32_t(id));  // beyond the tokenizer: dropped
          }
          return tok_->Decode(u, {.skip_special_tokens = true});
        };
        HS_ASSIGN_OR_RETURN(rollouts_,
                            rl::GenerateRollouts(model, reference_.get(), LocalPrompts(generation),
                                                 rewards_, decode, options_, generation, ranks_));
      } else {
        HS_ASSIGN_OR_RETURN(rollouts_, ReadRollouts(generation, step));
      }
      rollouts_generation_ = generation;
    }
    const double update_start = NowSeconds();
    absl::StatusOr<rl::PolicyPassResult> pass = absl::UnknownError("no GRPO pass ran");
    HS_RETURN_IF_ERROR(runner.BackwardWith([&](const models::GradReadyHook& on_ready) {
      pass = rl::GrpoUpdate(model, &rollouts_, options_, int(iteration), on_ready);
      return pass.status();
    }));
    const double update_seconds = NowSeconds() - update_start;
    if (iteration == 0 && mu > 1) HS_RETURN_IF_ERROR(WriteRollouts(generation));

    // This rank's shares of the pass's sums; the batch's statistics (the
    // same on every rank) from rank 0 only, so the job's sum is exact.
    const rl::GrpoStepStats& s = rollouts_.stats;
    const double tokens = std::max<double>(1.0, double(rollouts_.counts.global_tokens));
    const double own = is_logger_ ? 1.0 : 0.0;
    const bool generated = iteration == 0;
    MetricSums sums;
    sums.Add("loss", pass->loss.loss);
    sums.Add("reward", own * s.reward_mean);
    sums.Add("reward_std", own * s.reward_std);
    for (int f = 0; f < rewards_.size(); ++f) {
      sums.Add("reward/" + rewards_.name(f), own * s.reward_function_means[size_t(f)]);
    }
    sums.Add("frac_reward_zero_std", own * s.frac_reward_zero_std);
    if (options_.clip.beta != 0) sums.Add("kl", pass->loss.kl_sum / tokens);
    sums.Add("clip_ratio/low", double(pass->loss.clipped_low) / tokens);
    sums.Add("clip_ratio/high", double(pass->loss.clipped_high) / tokens);
    sums.Add("entropy", pass->entropy_sum / tokens);
    sums.Add("completion_length/mean", own * s.completion_length_mean);
    sums.Add("completion_length/max", own * double(s.completion_length_max));
    sums.Add("completion_length/clipped_ratio", own * s.clipped_fraction);
    // Times: the mean over the ranks; throughput: the ranks' sum. Updates
    // that reuse a generation batch decode nothing.
    const double rollout_seconds = generated ? s.rollout_seconds : 0.0;
    sums.Add("rollout_seconds", rollout_seconds / world_size_);
    sums.Add("update_seconds", update_seconds / world_size_);
    sums.Add("rollout_tokens_per_s",
             rollout_seconds > 0 ? double(s.rollout_tokens) / rollout_seconds : 0.0);
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

  // This rank's prompts of generation batch `generation`: prompts
  // [first, first + per_rank) of its prompts_per_step (a keyed permutation
  // of the prompts file per epoch).
  std::vector<rl::GrpoPrompt> LocalPrompts(int64_t generation) const {
    std::vector<rl::GrpoPrompt> batch;
    const int64_t n = int64_t(prompts_.size());
    const int64_t per_rank = prompts_per_step_ / ranks_.data_parallel;
    for (int64_t j = ranks_.first_prompt; j < ranks_.first_prompt + per_rank; ++j) {
      const int64_t i = generation * prompts_per_step_ + j;
      data::KeyedPermutation perm(uint64_t(n), options_.seed, uint64_t(i / n));
      batch.push_back(prompts_[size_t(perm(uint64_t(i % n)))]);
    }
    return batch;
  }

  // The frozen reference: the initial weights. A fresh run (step 0) copies
  // the policy's and keeps them in <output_dir>/grpo_reference (rank 0; with
  // expert parallelism the first EP group, one shard per EP rank, as the
  // trainer saves weights); a resumed run loads them from there. Under
  // expert parallelism it has its own dispatcher over the EP group.
  std::string ReferenceDir() const { return output_dir_ + "/grpo_reference"; }
  absl::Status ReadyReference(int64_t step, const models::DeepseekV2Model& policy) {
    if (reference_) return absl::OkStatus();
    const bool expert_parallel = ctx_ != nullptr && ctx_->ep_size() > 1;
    if (expert_parallel) {
      HS_ASSIGN_OR_RETURN(reference_dispatcher_,
                          parallel::AllToAllExpertDispatcher::Create(
                              ctx_->ep_comm(), reference_config_.n_routed_experts));
      reference_options_.dispatcher = reference_dispatcher_.get();
    }
    HS_ASSIGN_OR_RETURN(reference_, models::DeepseekV2Model::Create(reference_config_,
                                                                    reference_options_));
    if (step > 0) {
      if (output_dir_.empty()) {
        return absl::FailedPreconditionError(
            "objective.grpo.beta > 0: a resumed run needs train.output_dir (the reference weights)");
      }
      return Annotate(LoadHfWeights(ReferenceDir(), reference_.get()), "resuming GRPO at step ",
                      step + 1, " with objective.grpo.beta > 0 needs the reference weights of ",
                      ReferenceDir());
    }
    if (reference_->arena().size() != policy.arena().size()) {
      return absl::InternalError("the GRPO reference model's parameters differ from the policy's");
    }
    std::memcpy(reference_->arena().params(), policy.arena().params(),
                size_t(policy.arena().size()) * sizeof(float));
    if (output_dir_.empty()) return absl::OkStatus();
    if (!expert_parallel) {
      return is_logger_ ? SaveHfWeights(*reference_, model_proto_, ReferenceDir(), DType::kF32)
                        : absl::OkStatus();
    }
    const int ep = ctx_->ep_size(), ep_rank = ctx_->ep_rank();
    if (ctx_->ep_group() == 0) {
      HS_RETURN_IF_ERROR(SaveHfWeightsShard(
          *reference_, ReferenceDir(), DType::kF32, ep_rank, ep,
          [ep_rank](const models::ParamSpec& spec) { return spec.expert >= 0 || ep_rank == 0; }));
    }
    HS_RETURN_IF_ERROR(ctx_->Barrier());
    return is_logger_ ? WriteHfShardIndex(ReferenceDir(), ep, model_proto_) : absl::OkStatus();
  }

  // num_iterations > 1: each rank keeps its generation batch in
  // <output_dir>/grpo_rollouts/generation<k>.rank<r>.bin once update 0 has
  // π_old's log-probs, so that a run resumed between two of its updates
  // continues on it. A batch's file is removed once the next batch is
  // generated, unless a periodic checkpoint falls inside its updates.
  std::string RolloutPath(int64_t generation) const {
    return absl::StrCat(output_dir_, "/grpo_rollouts/generation", generation, ".rank", rank_,
                        ".bin");
  }
  absl::Status WriteRollouts(int64_t generation) {
    if (output_dir_.empty()) return absl::OkStatus();
    HS_RETURN_IF_ERROR(io::CreateDirectories(output_dir_ + "/grpo_rollouts"));
    HS_RETURN_IF_ERROR(
        io::WriteFileAtomically(RolloutPath(generation), rl::SerializeRollouts(rollouts_)));
    if (generation == 0) return absl::OkStatus();
    const int64_t mu = options_.num_iterations;
    // The previous batch served steps begin .. end - 1: a periodic checkpoint
    // at a step k, begin < k < end, resumes inside it and still needs it.
    const int64_t begin = (generation - 1) * mu, end = generation * mu;
    const bool checkpointed = save_every_ > 0 && (end - 1) / save_every_ > begin / save_every_;
    if (!checkpointed) std::remove(RolloutPath(generation - 1).c_str());
    return absl::OkStatus();
  }
  absl::StatusOr<rl::GrpoRollouts> ReadRollouts(int64_t generation, int64_t step) const {
    const std::string path = RolloutPath(generation);
    absl::StatusOr<std::string> bytes = io::ReadFileToString(path);
    if (!bytes.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "resuming GRPO at step ", step + 1, " (update ", step % options_.num_iterations + 1,
          " of objective.grpo.num_iterations = ", options_.num_iterations,
          ") needs the generation batch of its first update: ", bytes.status().message()));
    }
    HS_ASSIGN_OR_RETURN(rl::GrpoRollouts r, rl::ParseRollouts(*bytes, path));
    if (r.counts.data_parallel != ranks_.data_parallel ||
        int64_t(r.stats.reward_function_means.size()) != rewards_.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " was written with ", r.counts.data_parallel, " data-parallel ranks and ",
          r.stats.reward_function_means.size(), " rewards; this run has ", ranks_.data_parallel,
          " and ", rewards_.size(), ": resume between the updates of a generation batch with "
          "the same parallel.dp and rewards"));
    }
    return r;
  }

  std::unique_ptr<data::Tokenizer> tok_;
  std::vector<rl::GrpoPrompt> prompts_;
  rl::RewardSet rewards_;
  rl::GrpoOptions options_;
  rl::GrpoRanks ranks_;
  int64_t prompts_per_step_ = 4;
  bool is_logger_ = true;
  int rank_ = 0;
  double world_size_ = 1;
  std::string output_dir_;
  int64_t save_every_ = 0;
  // The current generation batch.
  rl::GrpoRollouts rollouts_;
  int64_t rollouts_generation_ = -1;
  // beta > 0: the frozen reference model (never created otherwise).
  std::unique_ptr<parallel::AllToAllExpertDispatcher> reference_dispatcher_;  // outlives reference_
  std::unique_ptr<models::DeepseekV2Model> reference_;
  models::DeepseekV2Config reference_config_;
  models::ModelOptions reference_options_;
  const parallel::ParallelContext* ctx_ = nullptr;
  config::ModelConfig model_proto_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Objective>> MakeGrpoObjective(const config::RunConfig& config,
                                                             const parallel::ParallelContext* ctx) {
  const GrpoConfig& g = config.objective().grpo();
  if (config.parallel().pp() > 1) {
    return absl::UnimplementedError(
        "parallel.pp: objective.type GRPO does not support pipeline parallelism (rollouts and "
        "the policy pass need the whole model on each rank); set parallel.pp 1");
  }
  const bool expert_parallel = ctx != nullptr && ctx->ep_size() > 1;
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
  if (!(g.beta() >= 0) || !std::isfinite(g.beta())) {
    return FieldError("beta", absl::StrCat("must be finite and >= 0, got ", g.beta()));
  }
  opt.clip.beta = g.beta();
  opt.num_iterations = g.has_num_iterations() ? g.num_iterations() : 1;
  if (opt.num_iterations < 1) {
    return FieldError("num_iterations", absl::StrCat("must be >= 1, got ", opt.num_iterations));
  }
  opt.decode_batch = g.decode_batch() > 0 ? g.decode_batch() : int64_t(1) << 40;
  opt.stop_token_ids = {int32_t(config.model().eos_token_id())};
  opt.seed = uint64_t(config.train().seed());
  o->prompts_per_step_ = g.has_prompts_per_step() ? g.prompts_per_step() : 4;
  if (o->prompts_per_step_ < 1) return FieldError("prompts_per_step", "must be >= 1");
  const int64_t dp = ctx != nullptr ? ctx->dp_size() : 1;
  if (o->prompts_per_step_ % dp != 0) {
    return FieldError("prompts_per_step",
                      absl::StrCat(o->prompts_per_step_, " prompts do not split over parallel.dp = ",
                                   dp, " ranks (each prompt's completions stay on one rank): "
                                   "use a multiple of ", dp));
  }
  o->ranks_.data_parallel = dp;
  o->ranks_.global_prompts = o->prompts_per_step_;
  o->ctx_ = ctx;
  if (ctx != nullptr) {
    o->ranks_.first_prompt = ctx->dp_rank() * (o->prompts_per_step_ / dp);
    o->is_logger_ = ctx->is_logger();
    o->rank_ = ctx->world_rank();
    o->world_size_ = double(ctx->world_size());
    if (dp > 1) {
      o->ranks_.sum = [ctx](double* values, int n) { return ctx->SumOverWorld(values, n); };
    }
    if (expert_parallel) {
      // Every decode step exchanges tokens with the EP group: all ranks
      // step until the last one is done.
      o->ranks_.lockstep = [ctx](bool has_work) { return ctx->AnyRank(has_work); };
    }
  }
  o->output_dir_ = config.train().output_dir();
  o->save_every_ = config.train().save_every();
  if (opt.clip.beta != 0) {
    o->reference_config_ = config::ToModelConfig(config);
    o->reference_options_ = ReferenceOptions(config);
    o->model_proto_ = config.model();
  }
  if (g.tokenizer_path().empty()) return FieldError("tokenizer_path", "is required");
  absl::StatusOr<data::Tokenizer> tok = data::Tokenizer::LoadFile(g.tokenizer_path());
  if (!tok.ok()) return FieldError("tokenizer_path", std::string(tok.status().message()));
  o->tok_ = std::make_unique<data::Tokenizer>(*std::move(tok));
  HS_ASSIGN_OR_RETURN(o->prompts_, ReadPrompts(g, *o->tok_, config.model().vocab_size()));
  HS_RETURN_IF_ERROR(AddRewards(g, opt.max_completion_tokens, &o->rewards_));
  o->AddHeaderNote(absl::StrFormat(
      "GRPO: %d prompts from %s x %d completions per generation batch (%d per data-parallel "
      "rank), %d update(s) each, beta %g%s",
      o->prompts_per_step_, g.prompts_path(), opt.num_generations, o->prompts_per_step_ / dp,
      opt.num_iterations, opt.clip.beta,
      opt.clip.beta != 0 ? ", reference: the initial weights" : ""));
  return std::unique_ptr<Objective>(std::move(o));
}

}  // namespace hs::train
