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

uint64_t RolloutSeed(uint64_t seed, int64_t generation) {
  return uint64_t(Philox(seed, StreamId("grpo.rollout")).Uint32(uint64_t(2 * generation))) << 32 |
         Philox(seed, StreamId("grpo.rollout")).Uint32(uint64_t(2 * generation + 1));
}

namespace {

absl::Status CheckOptions(const GrpoOptions& options, const models::DeepseekV2Model* reference) {
  if (options.num_generations < 2) {
    return absl::InvalidArgumentError(absl::StrCat("grpo.num_generations must be at least 2, got ",
                                                   options.num_generations));
  }
  if (options.num_iterations < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("grpo.num_iterations must be at least 1, got ", options.num_iterations));
  }
  if (options.clip.beta != 0 && reference == nullptr) {
    return absl::InvalidArgumentError("grpo.beta > 0 needs the frozen reference model");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GrpoRollouts> GenerateRollouts(models::DeepseekV2Model* policy,
                                              models::DeepseekV2Model* reference,
                                              const std::vector<GrpoPrompt>& prompts,
                                              RewardSet& rewards, const DecodeTokens& decode,
                                              const GrpoOptions& options, int64_t generation,
                                              const GrpoRanks& ranks) {
  HS_RETURN_IF_ERROR(CheckOptions(options, reference));
  const int G = options.num_generations;
  if (prompts.empty()) return absl::InvalidArgumentError("no prompts for the GRPO step");
  const int64_t global_prompts =
      ranks.global_prompts > 0 ? ranks.global_prompts : int64_t(prompts.size());
  if (ranks.first_prompt < 0 || ranks.first_prompt + int64_t(prompts.size()) > global_prompts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompts [", ranks.first_prompt, ", ", ranks.first_prompt + int64_t(prompts.size()),
        ") are not within the batch's ", global_prompts));
  }
  GrpoRollouts out;
  GrpoStepStats& stats = out.stats;

  // 1. Rollouts: every prompt G times, decoded together; completion j of
  // the whole batch samples from stream j.
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
  gen.seed = RolloutSeed(options.seed, generation);
  gen.first_stream = uint64_t(ranks.first_prompt) * uint64_t(G);
  gen.stop_token_ids = options.stop_token_ids;
  gen.batch = std::min<int64_t>(options.decode_batch, int64_t(requests.size()));
  gen.lockstep = ranks.lockstep;
  absl::StatusOr<std::vector<dec::Generation>> generated = dec::Generate(policy, requests, gen);
  if (!generated.ok()) {
    return Annotate(generated.status(), "GRPO rollouts of generation batch ", generation);
  }
  const std::vector<dec::Generation>& generations = *generated;
  stats.rollout_seconds = NowSeconds() - rollout_start;

  // 2. Rewards of this rank's completions.
  std::vector<Completion> batch;
  std::vector<std::vector<int32_t>> trained;  // completion tokens trained on
  for (size_t i = 0; i < generations.size(); ++i) {
    const dec::Generation& g = generations[i];
    Completion c;
    c.record = &prompts[i / size_t(G)].record;
    HS_ASSIGN_OR_RETURN(c.text, decode(g.tokens));
    c.tokens = int64_t(g.tokens.size());
    c.truncated = g.finish == dec::FinishReason::kLength;
    stats.rollout_tokens += c.tokens;
    stats.completions.push_back(c.text);
    std::vector<int32_t> t = g.tokens;
    if (g.finish == dec::FinishReason::kStopToken && !options.stop_token_ids.empty()) {
      t.push_back(options.stop_token_ids[0]);
    }
    trained.push_back(std::move(t));
    batch.push_back(std::move(c));
  }
  HS_ASSIGN_OR_RETURN(BatchRewards scored, rewards.Score(batch));

  // 3. The whole batch's rewards and lengths: fields [total, each
  // function, trained tokens, generated tokens, truncated] x completion,
  // this rank's entries filled, the rest 0, summed over the ranks.
  const int64_t N = global_prompts * G, n = int64_t(batch.size());
  const int64_t first = ranks.first_prompt * G, F = rewards.size();
  std::vector<double> all(size_t((F + 4) * N), 0.0);
  auto at = [&](int64_t field, int64_t i) -> double& { return all[size_t(field * N + i)]; };
  for (int64_t i = 0; i < n; ++i) {
    at(0, first + i) = scored.total[size_t(i)];
    for (int64_t f = 0; f < F; ++f) at(1 + f, first + i) = scored.per_function[size_t(f)][size_t(i)];
    at(F + 1, first + i) = double(trained[size_t(i)].size());
    at(F + 2, first + i) = double(batch[size_t(i)].tokens);
    at(F + 3, first + i) = batch[size_t(i)].truncated ? 1.0 : 0.0;
  }
  if (ranks.sum) HS_RETURN_IF_ERROR(Annotate(ranks.sum(all.data(), int(all.size())),
                                             "summing the GRPO rewards over the ranks"));
  const std::vector<double> totals(all.begin(), all.begin() + N);
  for (int64_t f = 0; f < F; ++f) {
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) sum += at(1 + f, i);
    stats.reward_function_means.push_back(sum / double(N));
  }
  double generated_tokens = 0, truncated = 0;
  out.counts.global_sequences = N;
  for (int64_t i = 0; i < N; ++i) {
    out.counts.global_tokens += int64_t(at(F + 1, i));
    generated_tokens += at(F + 2, i);
    stats.completion_length_max = std::max(stats.completion_length_max, int64_t(at(F + 2, i)));
    truncated += at(F + 3, i);
  }
  stats.completion_length_mean = generated_tokens / double(N);
  stats.clipped_fraction = truncated / double(N);
  out.counts.data_parallel = std::max<int64_t>(1, ranks.data_parallel);
  out.counts.max_completion_tokens = options.max_completion_tokens + 1;  // + the stop token

  HS_ASSIGN_OR_RETURN(Advantages adv, GroupAdvantages(totals, G, options.scale_rewards));
  stats.reward_mean = adv.reward_mean;
  stats.reward_std = adv.reward_std;
  stats.frac_reward_zero_std = adv.frac_reward_zero_std;
  out.advantages.assign(adv.values.begin() + first, adv.values.begin() + first + n);

  // 4. Rows, and the reference's log-probs.
  Rows rows = BuildRows(request_prompt, trained);
  out.tokens = std::move(rows.tokens);
  out.targets = std::move(rows.targets);
  out.B = rows.B;
  out.T = rows.T;
  if (options.clip.beta != 0) {
    HS_ASSIGN_OR_RETURN(out.logp_ref, PolicyLogProbs(reference, out.tokens.data(),
                                                     out.targets.data(), out.B, out.T));
  }
  return out;
}

absl::StatusOr<PolicyPassResult> GrpoUpdate(models::DeepseekV2Model* policy,
                                            GrpoRollouts* rollouts, const GrpoOptions& options,
                                            int iteration, const models::GradReadyHook& on_ready) {
  if (iteration < 0 || iteration >= options.num_iterations) {
    return absl::InvalidArgumentError(absl::StrCat("GRPO update ", iteration, " of ",
                                                   options.num_iterations, " iterations"));
  }
  if (iteration > 0 && rollouts->logp_old.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("GRPO update ", iteration, " needs π_old's log-probs from update 0"));
  }
  PolicyPassInput in{rollouts->tokens.data(),
                     rollouts->targets.data(),
                     rollouts->B,
                     rollouts->T,
                     iteration > 0 ? &rollouts->logp_old : nullptr,
                     options.clip.beta != 0 ? &rollouts->logp_ref : nullptr,
                     &rollouts->advantages,
                     options.clip,
                     options.loss_type,
                     rollouts->counts};
  HS_ASSIGN_OR_RETURN(PolicyPassResult pass,
                      GrpoForwardBackward(policy, in, /*backward=*/true, 0.0f, on_ready));
  if (iteration == 0 && options.num_iterations > 1) rollouts->logp_old = pass.logp;
  return pass;
}

absl::StatusOr<GrpoStepStats> GrpoStep(models::DeepseekV2Model* policy,
                                       models::DeepseekV2Model* reference,
                                       const std::vector<GrpoPrompt>& prompts, RewardSet& rewards,
                                       const DecodeTokens& decode, const GrpoOptions& options,
                                       int64_t step, const UpdateFn& update) {
  HS_ASSIGN_OR_RETURN(GrpoRollouts r, GenerateRollouts(policy, reference, prompts, rewards,
                                                       decode, options, step));
  GrpoStepStats stats = r.stats;
  const double update_start = NowSeconds();
  const double tokens = std::max<double>(1.0, double(r.counts.global_tokens));
  for (int it = 0; it < options.num_iterations; ++it) {
    ZeroGrads(policy);
    HS_ASSIGN_OR_RETURN(PolicyPassResult pass, GrpoUpdate(policy, &r, options, it));
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
