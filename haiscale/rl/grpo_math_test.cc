// File: haiscale/rl/grpo_math_test.cc
// Every expected value below is worked out by hand in the comments.
#include "haiscale/rl/grpo_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace hs::rl {
namespace {

TEST(GroupAdvantages, GroupBatchNoneAndZeroStdGroups) {
  const std::vector<double> r = {1, 0, 0, 1, 2, 2, 2, 2};
  // Group 1: mean 0.5, sample std sqrt(4 * 0.25 / 3) = sqrt(1/3).
  const double group_std = std::sqrt(1.0 / 3.0);
  // Batch: mean 1.25, squares 2*0.0625 + 2*1.5625 + 4*0.5625 = 5.5, std sqrt(5.5 / 7).
  const double batch_std = std::sqrt(5.5 / 7.0);
  auto g = GroupAdvantages(r, 4, ScaleRewards::kGroup);
  ASSERT_TRUE(g.ok());
  const double a = 0.5 / (group_std + 1e-4);
  const std::vector<double> want_group = {a, -a, -a, a, 0, 0, 0, 0};
  for (size_t i = 0; i < r.size(); ++i) EXPECT_DOUBLE_EQ(g->values[i], want_group[i]) << i;
  EXPECT_EQ(g->groups, 2);
  EXPECT_EQ(g->zero_std_groups, 1);
  EXPECT_DOUBLE_EQ(g->frac_reward_zero_std, 0.5);
  EXPECT_DOUBLE_EQ(g->reward_mean, 1.25);
  EXPECT_DOUBLE_EQ(g->reward_std, batch_std);

  auto b = GroupAdvantages(r, 4, ScaleRewards::kBatch);
  ASSERT_TRUE(b.ok());
  EXPECT_DOUBLE_EQ(b->values[0], 0.5 / (batch_std + 1e-4));
  EXPECT_DOUBLE_EQ(b->values[1], -0.5 / (batch_std + 1e-4));
  EXPECT_EQ(b->values[4], 0.0);

  auto n = GroupAdvantages(r, 4, ScaleRewards::kNone);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->values, (std::vector<double>{0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0}));
}

TEST(GroupAdvantages, AllGroupsEqualGiveZeroAdvantagesAndFullCount) {
  auto g = GroupAdvantages({3, 3, -1, -1, 0.25, 0.25}, 2, ScaleRewards::kGroup);
  ASSERT_TRUE(g.ok());
  for (double v : g->values) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(g->zero_std_groups, 3);
  EXPECT_EQ(g->frac_reward_zero_std, 1.0);
}

TEST(GroupAdvantages, Errors) {
  EXPECT_FALSE(GroupAdvantages({1, 2}, 1, ScaleRewards::kGroup).ok());
  EXPECT_FALSE(GroupAdvantages({1, 2, 3}, 2, ScaleRewards::kGroup).ok());
  EXPECT_FALSE(GroupAdvantages({1, NAN}, 2, ScaleRewards::kGroup).ok());
  auto e = GroupAdvantages({1, 2}, 1, ScaleRewards::kGroup);
  EXPECT_NE(e.status().message().find("grpo.num_generations"), std::string::npos);
}

TEST(GrpoTokenLoss, ClippingCases) {
  const ClipParams clip{0.2, 0.2, 0.0};
  // rho = 1: loss -A, gradient -A.
  TokenLoss t = GrpoTokenLoss(-1, -1, 0, 2, clip);
  EXPECT_DOUBLE_EQ(t.ratio, 1);
  EXPECT_DOUBLE_EQ(t.loss, -2);
  EXPECT_DOUBLE_EQ(t.dloss_dlogp, -2);
  const double up = std::exp(0.5), down = std::exp(-0.5);  // 1.6487, 0.6065
  // rho = 1.6487, A = 1: min(1.6487, 1.2) = 1.2 (clipped high, gradient cut).
  t = GrpoTokenLoss(-0.5, -1, 0, 1, clip);
  EXPECT_DOUBLE_EQ(t.loss, -1.2);
  EXPECT_EQ(t.dloss_dlogp, 0);
  EXPECT_TRUE(t.clipped_high);
  EXPECT_FALSE(t.clipped_low);
  // rho = 1.6487, A = -1: min(-1.6487, -1.2) = -1.6487, gradient -rho A = rho.
  t = GrpoTokenLoss(-0.5, -1, 0, -1, clip);
  EXPECT_DOUBLE_EQ(t.loss, up);
  EXPECT_DOUBLE_EQ(t.dloss_dlogp, up);
  EXPECT_FALSE(t.clipped_high || t.clipped_low);
  // rho = 0.6065, A = -1: min(-0.6065, -0.8) = -0.8 (clipped low, cut).
  t = GrpoTokenLoss(-1.5, -1, 0, -1, clip);
  EXPECT_DOUBLE_EQ(t.loss, 0.8);
  EXPECT_EQ(t.dloss_dlogp, 0);
  EXPECT_TRUE(t.clipped_low);
  // rho = 0.6065, A = 1: min(0.6065, 0.8) = 0.6065, gradient -rho.
  t = GrpoTokenLoss(-1.5, -1, 0, 1, clip);
  EXPECT_DOUBLE_EQ(t.loss, -down);
  EXPECT_DOUBLE_EQ(t.dloss_dlogp, -down);
  // Asymmetric range (eps_high 0.28): rho = 1.25, A = 1 is inside it.
  t = GrpoTokenLoss(std::log(1.25), 0, 0, 1, ClipParams{0.2, 0.28, 0});
  EXPECT_DOUBLE_EQ(t.loss, -1.25);
  EXPECT_FALSE(t.clipped_high);
}

TEST(GrpoTokenLoss, K3KlEstimatorAndItsGradient) {
  // ref - logp = -0.5: KL = e^-0.5 + 0.5 - 1, dKL/dlogp = 1 - e^-0.5.
  const ClipParams clip{0.2, 0.2, 0.1};
  TokenLoss t = GrpoTokenLoss(-1, -1, -1.5, 2, clip);
  const double kl = std::exp(-0.5) + 0.5 - 1;
  EXPECT_DOUBLE_EQ(t.kl, kl);
  EXPECT_DOUBLE_EQ(t.loss, -2 + 0.1 * kl);
  EXPECT_DOUBLE_EQ(t.dloss_dlogp, -2 + 0.1 * (1 - std::exp(-0.5)));
  // Equal to the reference: KL 0; beta 0 ignores the reference entirely.
  EXPECT_EQ(GrpoTokenLoss(-1, -1, -1, 1, clip).kl, 0);
  EXPECT_EQ(GrpoTokenLoss(-1, -1, 123, 1, ClipParams{}).kl, 0);
}

TEST(TokenWeights, EachAggregation) {
  // This rank: sequences of 2 and 3 tokens. Job: 4 sequences, 12 tokens,
  // 2 ranks, maximum completion length 5.
  const std::vector<int64_t> lengths = {2, 3};
  const BatchCounts c{4, 12, 2, 5};
  EXPECT_EQ(*TokenWeights(LossType::kGrpo, lengths, c), (std::vector<double>{1.0 / 8, 1.0 / 12}));
  EXPECT_EQ(*TokenWeights(LossType::kBnpo, lengths, c), (std::vector<double>{0.1, 0.1}));  // 1/(2*5)
  EXPECT_EQ(*TokenWeights(LossType::kDapo, lengths, c), (std::vector<double>{1.0 / 12, 1.0 / 12}));
  EXPECT_EQ(*TokenWeights(LossType::kDrGrpo, lengths, c), (std::vector<double>{0.05, 0.05}));
  // An empty completion contributes nothing under GRPO.
  EXPECT_EQ(*TokenWeights(LossType::kGrpo, {0, 4}, c), (std::vector<double>{0, 1.0 / 16}));
}

TEST(GrpoBatchLoss, HandComputedOnPolicy) {
  // On-policy (old = logp): each token's loss is -A. GRPO over 2 sequences
  // (1 rank): 1/2 * (mean(-1,-1) + mean(2,2,2)) = 0.5.
  const std::vector<double> logp = {-1, -2, -0.5, -0.1, -3};
  auto r = GrpoBatchLoss(logp, logp, {}, {2, 3}, {1, -2}, ClipParams{}, LossType::kGrpo,
                         BatchCounts{2, 5, 1, 4});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->loss, 0.5);
  EXPECT_EQ(r->dloss_dlogp, (std::vector<double>{-0.25, -0.25, 1.0 / 3, 1.0 / 3, 1.0 / 3}));
  // DAPO: (-2 + 6) / 5 = 0.8; DR_GRPO: 4 / (2 * 4) = 0.5.
  EXPECT_DOUBLE_EQ(GrpoBatchLoss(logp, logp, {}, {2, 3}, {1, -2}, ClipParams{}, LossType::kDapo,
                                 BatchCounts{2, 5, 1, 4})->loss, 0.8);
  EXPECT_DOUBLE_EQ(GrpoBatchLoss(logp, logp, {}, {2, 3}, {1, -2}, ClipParams{}, LossType::kDrGrpo,
                                 BatchCounts{2, 5, 1, 4})->loss, 0.5);
  // Mismatched sizes are an error.
  EXPECT_FALSE(GrpoBatchLoss(logp, logp, {}, {2, 2}, {1, -2}, ClipParams{}, LossType::kGrpo,
                             BatchCounts{2, 5, 1, 4}).ok());
  EXPECT_FALSE(GrpoBatchLoss(logp, logp, {}, {2, 3}, {1, -2}, ClipParams{0.2, 0.2, 0.1},
                             LossType::kGrpo, BatchCounts{2, 5, 1, 4}).ok());  // beta needs ref
}

TEST(GrpoBatchLoss, RanksSumToOneProcess) {
  // Splitting the sequences over 2 ranks: the ranks' losses sum to the
  // single process's for the batch-global aggregations.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> n(0, 0.3);
  const std::vector<int64_t> lengths = {3, 1, 4, 2};
  std::vector<double> logp(10), old(10), ref(10);
  for (int i = 0; i < 10; ++i) {
    logp[size_t(i)] = -1 + n(rng);
    old[size_t(i)] = logp[size_t(i)] + n(rng);
    ref[size_t(i)] = logp[size_t(i)] + n(rng);
  }
  const std::vector<double> adv = {0.7, -1.1, 0.2, 1.5};
  const ClipParams clip{0.2, 0.28, 0.05};
  for (LossType type : {LossType::kGrpo, LossType::kDapo, LossType::kDrGrpo}) {
    const double whole = GrpoBatchLoss(logp, old, ref, lengths, adv, clip, type,
                                       BatchCounts{4, 10, 1, 6})->loss;
    auto slice_of = [&](const std::vector<double>& v, size_t b, size_t e) {
      return std::vector<double>(v.begin() + long(b), v.begin() + long(e));
    };
    const double r0 = GrpoBatchLoss(slice_of(logp, 0, 4), slice_of(old, 0, 4), slice_of(ref, 0, 4), {3, 1},
                                    {0.7, -1.1}, clip, type, BatchCounts{4, 10, 2, 6})->loss;
    const double r1 = GrpoBatchLoss(slice_of(logp, 4, 10), slice_of(old, 4, 10), slice_of(ref, 4, 10),
                                    {4, 2}, {0.2, 1.5}, clip, type, BatchCounts{4, 10, 2, 6})->loss;
    EXPECT_NEAR(r0 + r1, whole, 1e-14) << int(type);
  }
}

TEST(GrpoBatchLoss, GradientMatchesFiniteDifferences) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> n(0, 0.4);
  const std::vector<int64_t> lengths = {5, 3, 6};
  const size_t total = 14;
  std::vector<double> logp(total), old(total), ref(total);
  for (size_t i = 0; i < total; ++i) {
    logp[i] = -1.5 + n(rng);
    old[i] = logp[i] + n(rng);
    ref[i] = logp[i] + n(rng);
  }
  const std::vector<double> adv = {1.3, -0.4, -1.0};
  const ClipParams clip{0.2, 0.28, 0.04};
  for (LossType type : {LossType::kGrpo, LossType::kBnpo, LossType::kDapo, LossType::kDrGrpo}) {
    const BatchCounts c{3, 14, 1, 8};
    auto base = GrpoBatchLoss(logp, old, ref, lengths, adv, clip, type, c);
    ASSERT_TRUE(base.ok());
    const double h = 1e-6;
    for (size_t t = 0; t < total; ++t) {
      const double rho = std::exp(logp[t] - old[t]);
      // Skip tokens within h of a clip boundary (the loss has a kink there).
      if (std::abs(rho - 0.8) < 1e-4 || std::abs(rho - 1.28) < 1e-4) continue;
      std::vector<double> plus = logp, minus = logp;
      plus[t] += h;
      minus[t] -= h;
      const double numeric = (GrpoBatchLoss(plus, old, ref, lengths, adv, clip, type, c)->loss -
                              GrpoBatchLoss(minus, old, ref, lengths, adv, clip, type, c)->loss) /
                             (2 * h);
      EXPECT_NEAR(base->dloss_dlogp[t], numeric, 1e-8) << "type " << int(type) << " token " << t;
    }
  }
}

}  // namespace
}  // namespace hs::rl
