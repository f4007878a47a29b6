// File: haiscale/rl/grpo_step_test.cc
#include "haiscale/rl/grpo_step.h"

#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "models/decode/test_util.h"

namespace hs::rl {
namespace {

using models::DeepseekV2Model;

constexpr int32_t kStop = 0;
constexpr int32_t kGood = 7;

// Reward: share of completion tokens that are kGood ("07" in the text).
class ShareOfGood : public RewardFunction {
 public:
  const std::string& name() const override { return name_; }
  absl::StatusOr<std::vector<double>> Score(const std::vector<Completion>& batch) override {
    std::vector<double> out;
    for (const Completion& c : batch) {
      int64_t good = 0;
      for (size_t i = 0; i + 2 < c.text.size() + 1; i += 3) good += c.text.compare(i, 2, "07") == 0;
      out.push_back(c.tokens > 0 ? double(good) / double(c.tokens) : 0.0);
    }
    return out;
  }

 private:
  std::string name_ = "good";
};

absl::StatusOr<std::string> Decode(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += char('0' + id / 10);
    s += char('0' + id % 10);
    s += ' ';
  }
  return s;
}

// Adam on the whole arena (the test's optimizer).
struct Adam {
  std::vector<double> m, v;
  int64_t t = 0;
  void Step(DeepseekV2Model& model, double lr) {
    float* p = model.arena().params();
    const float* g = model.arena().grads();
    const size_t n = size_t(model.arena().size());
    if (m.empty()) m.assign(n, 0), v.assign(n, 0);
    ++t;
    for (size_t i = 0; i < n; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * double(g[i]) * g[i];
      const double mh = m[i] / (1 - std::pow(0.9, double(t)));
      const double vh = v[i] / (1 - std::pow(0.999, double(t)));
      p[i] -= float(lr * mh / (std::sqrt(vh) + 1e-8));
    }
  }
};

std::vector<GrpoPrompt> Prompts() {
  std::vector<GrpoPrompt> prompts;
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> t = models::decode::RandomTokens(3, 41, 100 + uint64_t(i));
    for (int32_t& x : t) x = std::max<int32_t>(x, 1);
    prompts.push_back({nlohmann::json{{"prompt", i}}, t});
  }
  return prompts;
}

GrpoOptions Options() {
  GrpoOptions o;
  o.num_generations = 8;
  o.max_completion_tokens = 6;
  o.sampling = {1.0, 0, 1.0};
  o.decode_batch = 16;
  o.stop_token_ids = {kStop};
  o.seed = 5;
  return o;
}

std::unique_ptr<DeepseekV2Model> Tiny(uint64_t seed) {
  return *DeepseekV2Model::Create(models::decode::TinyDenseConfig(), {.seed = seed});
}

struct RunLog {
  std::vector<double> losses, rewards;
};

RunLog Train(DeepseekV2Model& model, Adam& adam, int64_t from, int64_t to, const GrpoOptions& o,
          DeepseekV2Model* reference = nullptr, std::vector<GrpoStepStats>* all = nullptr) {
  RewardSet rewards;
  EXPECT_TRUE(rewards.Add(std::make_unique<ShareOfGood>(), 1.0).ok());
  const std::vector<GrpoPrompt> prompts = Prompts();
  RunLog run;
  for (int64_t step = from; step < to; ++step) {
    auto stats = GrpoStep(&model, reference, prompts, rewards, Decode, o, step, [&](int) {
      adam.Step(model, 0.02);
      return absl::OkStatus();
    });
    EXPECT_TRUE(stats.ok()) << stats.status();
    if (!stats.ok()) return run;
    run.losses.insert(run.losses.end(), stats->losses.begin(), stats->losses.end());
    run.rewards.push_back(stats->reward_mean);
    if (all != nullptr) all->push_back(*stats);
  }
  return run;
}

TEST(GrpoStep, RaisesTheRewardOfATinyModel) {
  auto model = Tiny(3);
  Adam adam;
  RunLog run = Train(*model, adam, 0, 30, Options());
  ASSERT_EQ(run.rewards.size(), 30u);
  const double first = (run.rewards[0] + run.rewards[1] + run.rewards[2]) / 3;
  const double last = (run.rewards[27] + run.rewards[28] + run.rewards[29]) / 3;
  std::printf("mean reward, steps 0-2: %.3f, steps 27-29: %.3f\n", first, last);
  EXPECT_GT(last, first + 0.3);
}

TEST(GrpoStep, DeterministicAndResumable) {
  // Steps 0..5 in one go, and 0..2 then a "restart" (parameters and
  // optimizer state copied into a new model) for 3..5: the same losses,
  // because the rollout seed depends on (seed, step) only.
  auto a = Tiny(3);
  Adam adam_a;
  RunLog whole = Train(*a, adam_a, 0, 6, Options());
  auto b = Tiny(3);
  Adam adam_b;
  RunLog first = Train(*b, adam_b, 0, 3, Options());
  auto c = Tiny(99);  // different initialisation, overwritten by the "checkpoint"
  std::memcpy(c->arena().params(), b->arena().params(), size_t(b->arena().size()) * sizeof(float));
  Adam adam_c = adam_b;
  RunLog second = Train(*c, adam_c, 3, 6, Options());
  std::vector<double> resumed = first.losses;
  resumed.insert(resumed.end(), second.losses.begin(), second.losses.end());
  EXPECT_EQ(resumed, whole.losses);
  EXPECT_EQ(RolloutSeed(5, 3), RolloutSeed(5, 3));
  EXPECT_NE(RolloutSeed(5, 3), RolloutSeed(5, 4));
  EXPECT_NE(RolloutSeed(5, 3), RolloutSeed(6, 3));
}

TEST(GrpoStep, SeveralIterationsKlAgainstAFrozenReference) {
  GrpoOptions o = Options();
  o.num_iterations = 2;
  o.clip = {0.2, 0.28, 0.05};
  auto policy = Tiny(3);
  auto reference = Tiny(3);
  const std::vector<float> ref_before(reference->arena().params(),
                                      reference->arena().params() + reference->arena().size());
  Adam adam;
  std::vector<GrpoStepStats> stats;
  RunLog run = Train(*policy, adam, 0, 4, o, reference.get(), &stats);
  ASSERT_EQ(stats.size(), 4u);
  EXPECT_EQ(run.losses.size(), 8u);
  // Step 0, iteration 0: the policy is the reference (KL exactly 0) and
  // π_old (ρ = 1, nothing clipped).
  EXPECT_EQ(stats[0].kl, 0.0);
  EXPECT_GT(stats[3].kl, 0.0);
  // The reference never moves.
  EXPECT_EQ(0, std::memcmp(ref_before.data(), reference->arena().params(),
                           ref_before.size() * sizeof(float)));
  for (const GrpoStepStats& s : stats) {
    EXPECT_GE(s.frac_reward_zero_std, 0.0);
    EXPECT_LE(s.completion_length_max, 6);
    EXPECT_EQ(s.completions.size(), 32u);
    EXPECT_EQ(s.reward_function_means.size(), 1u);
    EXPECT_GT(s.entropy, 0.0);
  }
}

// Two "ranks" in threads: each its own copy of the model, half the
// prompts, and a sum that adds both ranks' arrays (what the data-parallel
// all-reduce does).
class TwoRankSum {
 public:
  absl::Status Sum(int rank, double* values, int n) {
    std::unique_lock<std::mutex> lock(mu_);
    parts_[rank].assign(values, values + n);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return arrived_ == 2; });
    if (parts_[0].size() != parts_[1].size()) return absl::InternalError("sizes differ");
    for (int i = 0; i < n; ++i) values[i] = parts_[0][size_t(i)] + parts_[1][size_t(i)];
    return absl::OkStatus();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  std::vector<double> parts_[2];
};

TEST(GrpoStep, RolloutsSplitOverRanksEqualOneProcess) {
  GrpoOptions o = Options();
  o.scale_rewards = ScaleRewards::kBatch;  // needs the whole batch's std
  o.loss_type = LossType::kDapo;          // needs the whole batch's tokens
  o.sampling = {1.3, 0, 1.0};
  const std::vector<GrpoPrompt> prompts = Prompts();
  auto whole_model = Tiny(3);
  RewardSet whole_rewards;
  ASSERT_TRUE(whole_rewards.Add(std::make_unique<ShareOfGood>(), 1.0).ok());
  auto whole = GenerateRollouts(whole_model.get(), nullptr, prompts, whole_rewards, Decode, o, 2);
  ASSERT_TRUE(whole.ok()) << whole.status();

  TwoRankSum sum;
  absl::StatusOr<GrpoRollouts> part[2] = {absl::UnknownError(""), absl::UnknownError("")};
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank) {
    threads.emplace_back([&, rank] {
      auto model = Tiny(3);
      RewardSet rewards;
      EXPECT_TRUE(rewards.Add(std::make_unique<ShareOfGood>(), 1.0).ok());
      GrpoRanks ranks{.first_prompt = 2 * rank, .global_prompts = 4, .data_parallel = 2,
                      .sum = [&, rank](double* v, int n) { return sum.Sum(rank, v, n); }};
      const std::vector<GrpoPrompt> mine(prompts.begin() + 2 * rank, prompts.begin() + 2 * rank + 2);
      part[rank] = GenerateRollouts(model.get(), nullptr, mine, rewards, Decode, o, 2, ranks);
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(part[0].ok()) << part[0].status();
  ASSERT_TRUE(part[1].ok()) << part[1].status();
  EXPECT_GT(whole->stats.reward_std, 0.0);
  std::vector<double> advantages = part[0]->advantages;
  advantages.insert(advantages.end(), part[1]->advantages.begin(), part[1]->advantages.end());
  EXPECT_EQ(advantages, whole->advantages);
  std::vector<std::string> completions = part[0]->stats.completions;
  completions.insert(completions.end(), part[1]->stats.completions.begin(),
                     part[1]->stats.completions.end());
  EXPECT_EQ(completions, whole->stats.completions);
  for (const auto& p : part) {
    EXPECT_EQ(p->counts.global_tokens, whole->counts.global_tokens);
    EXPECT_EQ(p->counts.global_sequences, 32);
    EXPECT_EQ(p->counts.data_parallel, 2);
    EXPECT_EQ(p->stats.reward_mean, whole->stats.reward_mean);
    EXPECT_EQ(p->stats.reward_std, whole->stats.reward_std);
    EXPECT_EQ(p->stats.reward_function_means, whole->stats.reward_function_means);
    EXPECT_EQ(p->stats.frac_reward_zero_std, whole->stats.frac_reward_zero_std);
    EXPECT_EQ(p->stats.completion_length_mean, whole->stats.completion_length_mean);
    EXPECT_EQ(p->stats.completion_length_max, whole->stats.completion_length_max);
    EXPECT_EQ(p->B, 16);
  }
}

TEST(GrpoStep, Errors) {
  auto model = Tiny(3);
  RewardSet rewards;
  ASSERT_TRUE(rewards.Add(std::make_unique<ShareOfGood>(), 1.0).ok());
  auto none = [](int) { return absl::OkStatus(); };
  GrpoOptions o = Options();
  o.num_generations = 1;
  auto r = GrpoStep(model.get(), nullptr, Prompts(), rewards, Decode, o, 0, none);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("grpo.num_generations"), std::string::npos);
  o = Options();
  o.clip.beta = 0.1;
  r = GrpoStep(model.get(), nullptr, Prompts(), rewards, Decode, o, 0, none);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("reference"), std::string::npos);
}

}  // namespace
}  // namespace hs::rl
