// File: haiscale/rl/policy_pass_test.cc
#include "haiscale/rl/policy_pass.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "models/decode/test_util.h"

namespace hs::rl {
namespace {

using models::DeepseekV2Model;

TEST(TokenLogProbs, AgainstDirectSoftmax) {
  const float logits[] = {0, 0, 0, 0, 1, 2, 3, 4};
  const int32_t targets[] = {2, 3};
  std::vector<double> logp, entropy;
  TokenLogProbs(logits, targets, 2, 4, &logp, &entropy);
  ASSERT_EQ(logp.size(), 2u);
  EXPECT_NEAR(logp[0], -std::log(4.0), 1e-12);
  EXPECT_NEAR(entropy[0], std::log(4.0), 1e-12);
  const double z = std::exp(1) + std::exp(2) + std::exp(3) + std::exp(4);
  EXPECT_NEAR(logp[1], 4 - std::log(z), 1e-12);
  double h = 0;
  for (int v = 1; v <= 4; ++v) h -= std::exp(v) / z * (v - std::log(z));
  EXPECT_NEAR(entropy[1], h, 1e-12);
  const int32_t ignored[] = {-1, 0};
  logp.clear();
  TokenLogProbs(logits, ignored, 2, 4, &logp, nullptr);
  EXPECT_EQ(logp.size(), 1u);
}

// Three rows of 8 tokens: 3 prompt tokens, then completions of 4, 2 and 3.
struct Rows {
  std::vector<int32_t> tokens, targets;
  int64_t B = 3, T = 8;
};

Rows MakeRows(int64_t vocab) {
  Rows r;
  r.tokens = models::decode::RandomTokens(r.B * r.T, vocab, 5);
  r.targets.assign(size_t(r.B * r.T), -1);
  const int64_t lengths[] = {4, 2, 3};
  for (int64_t b = 0; b < r.B; ++b) {
    for (int64_t k = 0; k < lengths[b]; ++k) {
      const int64_t t = 2 + k;  // predicts token t + 1
      r.targets[size_t(b * r.T + t)] = r.tokens[size_t(b * r.T + t + 1)];
    }
  }
  return r;
}

std::vector<float> Grads(DeepseekV2Model& m) {
  return std::vector<float>(m.arena().grads(), m.arena().grads() + m.arena().size());
}

void ZeroGrads(DeepseekV2Model& m) {
  std::memset(m.arena().grads(), 0, size_t(m.arena().size()) * sizeof(float));
}

TEST(GrpoForwardBackward, FiniteDifferenceGradientOnTinyModel) {
  auto model = DeepseekV2Model::Create(models::decode::TinyDenseConfig(), {.seed = 3});
  ASSERT_TRUE(model.ok()) << model.status();
  DeepseekV2Model& m = **model;
  Rows rows = MakeRows(m.config().vocab_size);
  auto on_policy = PolicyLogProbs(&m, rows.tokens.data(), rows.targets.data(), rows.B, rows.T);
  ASSERT_TRUE(on_policy.ok());
  ASSERT_EQ(on_policy->size(), 9u);
  std::mt19937_64 rng(9);
  std::normal_distribution<double> noise(0, 0.25);
  std::vector<double> old = *on_policy, ref = *on_policy;
  for (double& v : old) v += noise(rng);
  for (double& v : ref) v += noise(rng);
  const std::vector<double> adv = {1.2, -0.7, 0.3};
  for (LossType type : {LossType::kGrpo, LossType::kBnpo, LossType::kDapo, LossType::kDrGrpo}) {
    PolicyPassInput in{rows.tokens.data(), rows.targets.data(), rows.B, rows.T, &old, &ref,
                       &adv, ClipParams{0.2, 0.28, 0.05}, type, BatchCounts{3, 9, 1, 5}};
    ZeroGrads(m);
    auto base = GrpoForwardBackward(&m, in, /*backward=*/true);
    ASSERT_TRUE(base.ok()) << base.status();
    const std::vector<float> g = Grads(m);
    // Directional derivative along a random direction of all parameters.
    float* p = m.arena().params();
    const int64_t n = m.arena().size();
    std::vector<float> d(static_cast<size_t>(n));
    const std::vector<float> p0(p, p + n);
    double analytic = 0;
    for (int64_t i = 0; i < n; ++i) {
      d[size_t(i)] = float(noise(rng));
      analytic += double(g[size_t(i)]) * d[size_t(i)];
    }
    const float h = 1e-3f;
    auto loss_at = [&](float s) {
      for (int64_t i = 0; i < n; ++i) p[i] = p0[size_t(i)] + s * d[size_t(i)];
      return GrpoForwardBackward(&m, in, /*backward=*/false)->loss.loss;
    };
    const double numeric = (loss_at(h) - loss_at(-h)) / (2 * double(h));
    std::memcpy(p, p0.data(), size_t(n) * sizeof(float));
    EXPECT_NEAR(analytic, numeric, 2e-3 * std::abs(numeric) + 5e-4) << "loss type " << int(type);
    EXPECT_GT(std::abs(analytic), 1e-3);  // a real signal, not 0 = 0
  }
}

TEST(GrpoForwardBackward, OnPolicyEqualsAdvantageWeightedCrossEntropy) {
  // rho = 1 and beta = 0: the GRPO gradient is sum_i A_i / (N L_i) times
  // minus the gradient of row i's summed log-likelihood, i.e. row i's
  // cross-entropy backward with scale -A_i / (N L_i).
  auto model = DeepseekV2Model::Create(models::decode::TinyDenseConfig(), {.seed = 8});
  ASSERT_TRUE(model.ok());
  DeepseekV2Model& m = **model;
  Rows rows = MakeRows(m.config().vocab_size);
  const std::vector<double> adv = {0.9, -1.4, 0.5};
  PolicyPassInput in{rows.tokens.data(), rows.targets.data(), rows.B, rows.T, nullptr, nullptr,
                     &adv, ClipParams{}, LossType::kGrpo, BatchCounts{3, 9, 1, 5}};
  ZeroGrads(m);
  ASSERT_TRUE(GrpoForwardBackward(&m, in, true).ok());
  const std::vector<float> grpo = Grads(m);
  ZeroGrads(m);
  const int64_t lengths[] = {4, 2, 3};
  for (int64_t b = 0; b < rows.B; ++b) {
    const int32_t* tok = rows.tokens.data() + b * rows.T;
    const int32_t* tgt = rows.targets.data() + b * rows.T;
    ASSERT_TRUE(m.Forward(tok, tgt, 1, rows.T).ok());
    ASSERT_TRUE(m.Backward(float(adv[size_t(b)] / (3.0 * double(lengths[b]))), 0).ok());
  }
  const std::vector<float> reference = Grads(m);
  double max_abs = 0, max_diff = 0;
  for (size_t i = 0; i < grpo.size(); ++i) {
    max_abs = std::max(max_abs, double(std::abs(reference[i])));
    max_diff = std::max(max_diff, double(std::abs(grpo[i] - reference[i])));
  }
  EXPECT_GT(max_abs, 1e-4);
  EXPECT_LT(max_diff, 1e-5 * max_abs + 1e-7);
}

TEST(GrpoForwardBackward, ReferenceRequiredWhenBetaPositive) {
  auto model = DeepseekV2Model::Create(models::decode::TinyDenseConfig(), {.seed = 1});
  ASSERT_TRUE(model.ok());
  Rows rows = MakeRows((*model)->config().vocab_size);
  const std::vector<double> adv = {1, -1, 0};
  PolicyPassInput in{rows.tokens.data(), rows.targets.data(), rows.B, rows.T, nullptr, nullptr,
                     &adv, ClipParams{0.2, 0.2, 0.1}, LossType::kGrpo, BatchCounts{3, 9, 1, 5}};
  EXPECT_FALSE(GrpoForwardBackward(model->get(), in, false).ok());
}

}  // namespace
}  // namespace hs::rl
