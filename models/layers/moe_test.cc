// MoE layer tests: finite-difference gradients through routing weights,
// experts, shared experts and the balance loss (seq-wise and batch-wise,
// greedy and group-limited, normalised and scaled top-k weights), the
// balance loss value against a direct formula, and the local dispatcher's
// dispatch/combine symmetry.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "models/layers/moe.h"
#include "models/testing/grad_check.h"

namespace hs::models {
namespace {

using testing::CheckGradient;
using testing::Dot;
using testing::RandomProjection;
using testing::RandomVector;

struct MoeCase {
  const char* name;
  bool norm_topk_prob;
  bool seq_aux;
  bool group_limited;
  int64_t shared;
};

DeepseekV2Config MoeConfig(const MoeCase& m) {
  DeepseekV2Config c;
  c.hidden_size = 12;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 3;
  c.moe_intermediate_size = 6;
  c.n_shared_experts = m.shared;
  c.norm_topk_prob = m.norm_topk_prob;
  c.routed_scaling_factor = m.norm_topk_prob ? 1.0 : 2.5;
  c.seq_aux = m.seq_aux;
  c.aux_loss_alpha = 0.3;  // large, so its gradient is visible in the check
  c.topk_method = m.group_limited ? "group_limited_greedy" : "greedy";
  c.n_group = 4;
  c.topk_group = 2;
  c.initializer_range = 0.4;
  return c;
}

class MoeGradTest : public ::testing::TestWithParam<MoeCase> {};

TEST_P(MoeGradTest, MatchesFiniteDifferences) {
  DeepseekV2Config c = MoeConfig(GetParam());
  ParamArena arena;
  LocalExpertDispatcher dispatcher(c.n_routed_experts);
  Moe moe(arena, "mlp", c, &dispatcher);
  ASSERT_TRUE(arena.Allocate().ok());
  arena.Initialize(17);
  const int64_t B = 2, T = 6, N = B * T, C = c.hidden_size, K = c.num_experts_per_tok;
  std::vector<float> x = RandomVector(N * C, 51), r = RandomProjection(N * C, 52);
  std::vector<float> out(N * C), dx(N * C, 0.0f);
  MoeSaved base;
  ASSERT_TRUE(moe.Forward(out.data(), x.data(), B, T, &base).ok());
  std::vector<int32_t> base_idx(base.idx.data<int32_t>(), base.idx.data<int32_t>() + N * K);
  // loss = <r, out> + aux; NaN when a perturbation changes the routing.
  auto loss = [&]() {
    MoeSaved s;
    EXPECT_TRUE(moe.Forward(out.data(), x.data(), B, T, &s).ok());
    for (int64_t i = 0; i < N * K; ++i)
      if (s.idx.data<int32_t>()[i] != base_idx[i]) return std::nan("");
    return Dot(out.data(), r.data(), N * C) + s.aux_loss;
  };
  ASSERT_TRUE(moe.Forward(out.data(), x.data(), B, T, &base).ok());
  ASSERT_TRUE(moe.Backward(dx.data(), r.data(), x.data(), B, T, 1.0f, base).ok());
  testing::GradCheckOptions opt{.eps = 3e-3, .rel_tol = 3e-2, .abs_tol = 3e-3};
  auto rx = CheckGradient("moe.dx", loss, x.data(), dx.data(), N * C, opt);
  EXPECT_TRUE(rx.ok) << rx.report;
  for (const ParamSpec& spec : arena.specs()) {
    ParamId id = *arena.Find(spec.name);
    opt.max_checks = 16;
    auto rp = CheckGradient(spec.name, loss, arena.param(id), arena.grad(id), spec.numel, opt);
    EXPECT_TRUE(rp.ok) << rp.report;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, MoeGradTest,
    ::testing::Values(MoeCase{"norm_seq_shared", true, true, false, 1},
                      MoeCase{"scaled_seq", false, true, false, 0},
                      MoeCase{"norm_batch_group", true, false, true, 2},
                      MoeCase{"scaled_group_seq", false, true, true, 1}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MoeTest, BalanceLossMatchesFormula) {
  DeepseekV2Config c = MoeConfig({"", true, true, false, 0});
  ParamArena arena;
  LocalExpertDispatcher dispatcher(c.n_routed_experts);
  Moe moe(arena, "mlp", c, &dispatcher);
  ASSERT_TRUE(arena.Allocate().ok());
  arena.Initialize(2);
  const int64_t B = 3, T = 5, N = B * T, C = c.hidden_size, E = 8, K = 3;
  std::vector<float> x = RandomVector(N * C, 7), out(N * C);
  MoeSaved s;
  ASSERT_TRUE(moe.Forward(out.data(), x.data(), B, T, &s).ok());
  // aux = alpha * mean_b sum_e [E/(K T) count_b(e)] * [mean_t scores(b,t,e)]
  double expect = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t e = 0; e < E; ++e) {
      double count = 0, p = 0;
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t k = 0; k < K; ++k) count += s.idx.data<int32_t>()[(b * T + t) * K + k] == e;
        p += s.scores.data<float>()[(b * T + t) * E + e];
      }
      expect += (count * E / (K * T)) * (p / T);
    }
  }
  expect = expect / B * c.aux_loss_alpha;
  EXPECT_NEAR(s.aux_loss, expect, 1e-6);
  // Every token contributes K selections.
  int64_t total = 0;
  for (int64_t v : s.expert_load) total += v;
  EXPECT_EQ(total, N * K);
}

TEST(MoeTest, NormalisedWeightsSumToOne) {
  DeepseekV2Config c = MoeConfig({"", true, true, false, 0});
  ParamArena arena;
  LocalExpertDispatcher dispatcher(c.n_routed_experts);
  Moe moe(arena, "mlp", c, &dispatcher);
  ASSERT_TRUE(arena.Allocate().ok());
  arena.Initialize(2);
  const int64_t N = 10, C = c.hidden_size, K = 3;
  std::vector<float> x = RandomVector(N * C, 9), out(N * C);
  MoeSaved s;
  ASSERT_TRUE(moe.Forward(out.data(), x.data(), 1, N, &s).ok());
  for (int64_t n = 0; n < N; ++n) {
    double sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += s.weights.data<float>()[n * K + k];
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

TEST(LocalDispatcherTest, DispatchCombineRoundTrip) {
  const int64_t N = 7, K = 2, C = 3, E = 4;
  LocalExpertDispatcher d(E);
  std::vector<float> x(N * C);
  for (int64_t i = 0; i < N * C; ++i) x[i] = float(i);
  std::vector<int32_t> idx = {0, 3, 1, 2, 3, 0, 2, 1, 0, 1, 3, 2, 1, 0};
  DispatchPlan plan;
  Tensor expert_in;
  ASSERT_TRUE(d.Dispatch(x.data(), idx.data(), N, K, C, &plan, &expert_in).ok());
  ASSERT_EQ(plan.rows(), N * K);
  // Rows of expert e hold exactly the tokens routed to e, in token order.
  for (int64_t e = 0; e < E; ++e) {
    int64_t row = plan.expert_offsets[e];
    for (int64_t s = 0; s < N * K; ++s) {
      if (idx[s] != e) continue;
      EXPECT_EQ(expert_in.data<float>()[row * C], x[(s / K) * C]);
      ++row;
    }
    EXPECT_EQ(row, plan.expert_offsets[e + 1]);
  }
  // Combine of the dispatched rows gives every slot its token back.
  std::vector<float> slots(N * K * C);
  ASSERT_TRUE(d.Combine(expert_in, plan, slots.data()).ok());
  for (int64_t s = 0; s < N * K; ++s)
    for (int64_t c = 0; c < C; ++c) EXPECT_EQ(slots[s * C + c], x[(s / K) * C + c]);
  // DispatchBackward sums the K copies: dx = K * ones.
  Tensor ones = Tensor::Empty({N * K, C});
  for (int64_t i = 0; i < N * K * C; ++i) ones.data<float>()[i] = 1.0f;
  std::vector<float> dx(N * C, 0.0f);
  ASSERT_TRUE(d.DispatchBackward(ones, plan, dx.data()).ok());
  for (float v : dx) EXPECT_EQ(v, float(K));
}

}  // namespace
}  // namespace hs::models
