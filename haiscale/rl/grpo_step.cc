// File: haiscale/rl/grpo_step.cc
#include "haiscale/rl/grpo_step.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "haiscale/clock.h"
#include "haiscale/rl/policy_pass.h"
#include "haiscale/rng.h"
#include "haiscale/status.h"

namespace hs::rl {
namespace {

namespace dec = models::decode;

// Rows for the policy pass: prompt + completion, targets only on the
// completion (prompt and padding -1).
struct Rows {
  std::vector<int32_t> tokens, targets;
  int64_t B = 0, T = 0;
};

Rows BuildRows(const std::vector<const std::vector<int32_t>*>& prompts,
               const std::vector<std::vector<int32_t>>& completions) {
  Rows r;
  r.B = int64_t(completions.size());
  for (size_t i = 0; i < completions.size(); ++i) {
    r.T = std::max<int64_t>(r.T, int64_t(prompts[i]->size() + completions[i].size()) - 1);
  }
  r.tokens.assign(size_t(r.B * r.T), 0);
  r.targets.assign(size_t(r.B * r.T), -1);
  for (size_t i = 0; i < completions.size(); ++i) {
    std::vector<int32_t> seq = *prompts[i];
    seq.insert(seq.end(), completions[i].begin(), completions[i].end());
    const size_t p = prompts[i]->size();
    for (size_t t = 0; t + 1 < seq.size(); ++t) {
      r.tokens[i * size_t(r.T) + t] = seq[t];
      if (t + 1 >= p) r.targets[i * size_t(r.T) + t] = seq[t + 1];
    }
  }
  return r;
}

void ZeroGrads(models::DeepseekV2Model* m) {
  std::memset(m->arena().grads(), 0, size_t(m->arena().size()) * sizeof(float));
}

}  // namespace

uint64_t RolloutSeed(uint64_t seed, int64_t step) {
  return uint64_t(Philox(seed, StreamId("grpo.rollout")).Uint32(uint64_t(2 * step))) << 32 |
         Philox(seed, StreamId("grpo.rollout")).Uint32(uint64_t(2 * step + 1));
}

absl::StatusOr<GrpoStepStats> GrpoStep(models::DeepseekV2Model* policy,
                                       models::DeepseekV2Model* reference,
                                       const std::vector<GrpoPrompt>& prompts, RewardSet& rewards,
                                       const DecodeTokens& decode, const GrpoOptions& options,
                                       int64_t step, const UpdateFn& update) {
  const int G = options.num_generations;
  if (G < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("grpo.num_generations must be at least 2, got ", G));
  }
  if (options.num_iterations < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("grpo.num_iterations must be at least 1, got ", options.num_iterations));
  }
  if (options.clip.beta != 0 && reference == nullptr) {
    return absl::InvalidArgumentError("grpo.beta > 0 needs the frozen reference model");
  }
  if (prompts.empty()) return absl::InvalidArgumentError("no prompts for the GRPO step");
  GrpoStepStats stats;

  // 1. Rollouts: every prompt G times, decoded together.
  const double rollout_start = NowSeconds();
  std::vector<std::vector<int32_t>> requests;
  std::vector<const std::vector<int32_t>*> request_prompt;
  for (const GrpoPrompt& p : prompts) {
    for (int g = 0; g < G; ++g) {
      requests.push_back(p.tokens);
      request_prompt.push_back(&p.tokens);
    }
  }
  dec::GenerationOptions gen;
  gen.max_new_tokens = options.max_completion_tokens;
  gen.sampling = options.sampling;
  gen.seed = RolloutSeed(options.seed, step);
  gen.stop_token_ids = options.stop_token_ids;
  gen.batch = std::min<int64_t>(options.decode_batch, int64_t(requests.size()));
  absl::StatusOr<std::vector<dec::Generation>> generated = dec::Generate(policy, requests, gen);
  if (!generated.ok()) return Annotate(generated.status(), "GRPO rollouts at step ", step);
  const std::vector<dec::Generation>& generations = *generated;
  stats.rollout_seconds = NowSeconds() - rollout_start;

  // 2. Rewards.
  std::vector<Completion> batch;
  std::vector<std::vector<int32_t>> trained;  // completion tokens trained on
  int64_t clipped = 0;
  for (size_t i = 0; i < generations.size(); ++i) {
    const dec::Generation& g = generations[i];
    Completion c;
    c.record = &prompts[i / size_t(G)].record;
    HS_ASSIGN_OR_RETURN(c.text, decode(g.tokens));
    c.tokens = int64_t(g.tokens.size());
    c.truncated = g.finish == dec::FinishReason::kLength;
    clipped += c.truncated;
    stats.rollout_tokens += c.tokens;
    stats.completion_length_max = std::max(stats.completion_length_max, c.tokens);
    stats.completions.push_back(c.text);
    std::vector<int32_t> t = g.tokens;
    if (g.finish == dec::FinishReason::kStopToken && !options.stop_token_ids.empty()) {
      t.push_back(options.stop_token_ids[0]);
    }
    trained.push_back(std::move(t));
    batch.push_back(std::move(c));
  }
  stats.completion_length_mean = double(stats.rollout_tokens) / double(batch.size());
  stats.clipped_fraction = double(clipped) / double(batch.size());
  HS_ASSIGN_OR_RETURN(BatchRewards scored, rewards.Score(batch));
  for (const std::vector<double>& f : scored.per_function) {
    double sum = 0;
    for (double v : f) sum += v;
    stats.reward_function_means.push_back(sum / double(f.size()));
  }

  // 3. Advantages.
  HS_ASSIGN_OR_RETURN(Advantages adv, GroupAdvantages(scored.total, G, options.scale_rewards));
  stats.reward_mean = adv.reward_mean;
  stats.reward_std = adv.reward_std;
  stats.frac_reward_zero_std = adv.frac_reward_zero_std;

  // 4. Updates.
  const double update_start = NowSeconds();
  Rows rows = BuildRows(request_prompt, trained);
  const std::vector<int64_t> lengths = CompletionLengths(rows.targets.data(), rows.B, rows.T);
  BatchCounts counts;
  counts.global_sequences = rows.B;
  for (int64_t n : lengths) counts.global_tokens += n;
  counts.data_parallel = 1;
  counts.max_completion_tokens = options.max_completion_tokens + 1;  // + the stop token
  std::vector<double> logp_old, logp_ref;
  if (options.num_iterations > 1) {
    HS_ASSIGN_OR_RETURN(logp_old, PolicyLogProbs(policy, rows.tokens.data(), rows.targets.data(),
                                                 rows.B, rows.T));
  }
  if (options.clip.beta != 0) {
    HS_ASSIGN_OR_RETURN(logp_ref, PolicyLogProbs(reference, rows.tokens.data(),
                                                 rows.targets.data(), rows.B, rows.T));
  }
  PolicyPassInput in{rows.tokens.data(), rows.targets.data(), rows.B, rows.T,
                     options.num_iterations > 1 ? &logp_old : nullptr,
                     options.clip.beta != 0 ? &logp_ref : nullptr, &adv.values, options.clip,
                     options.loss_type, counts};
  const double tokens = std::max<double>(1.0, double(counts.global_tokens));
  for (int it = 0; it < options.num_iterations; ++it) {
    ZeroGrads(policy);
    HS_ASSIGN_OR_RETURN(PolicyPassResult pass, GrpoForwardBackward(policy, in, /*backward=*/true));
    stats.losses.push_back(pass.loss.loss);
    if (it == 0) {
      stats.kl = pass.loss.kl_sum / tokens;
      stats.entropy = pass.entropy_sum / tokens;
    }
    stats.clip_ratio_low = double(pass.loss.clipped_low) / tokens;
    stats.clip_ratio_high = double(pass.loss.clipped_high) / tokens;
    HS_RETURN_IF_ERROR(Annotate(update(it), "GRPO update ", it));
  }
  stats.update_seconds = NowSeconds() - update_start;
  return stats;
}

}  // namespace hs::rl
