// MoE layer tests: finite-difference gradients through routing weights,
// experts, shared experts and the balance loss (seq-wise and batch-wise,
// greedy and group-limited, normalised and scaled top-k weights), the
// balance loss value against a direct formula, and the local dispatcher's
// dispatch/combine symmetry.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
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
  // Expert-parallel routing knobs (defaults: off, the layer as before).
  int64_t ep_devices = 1;
  int64_t device_limit = 0;
  double device_alpha = 0.0;
  double comm_alpha = 0.0;
  double capacity_factor = 0.0;
  double aux_alpha = 0.3;
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
  c.aux_loss_alpha = m.aux_alpha;  // large, so its gradient is visible in the check
  c.topk_method = m.group_limited ? "group_limited_greedy" : "greedy";
  c.n_group = 4;
  c.topk_group = 2;
  c.initializer_range = 0.4;
  c.ep_devices = m.ep_devices;
  c.device_limit = m.device_limit;
  c.device_balance_alpha = m.device_alpha;
  c.comm_balance_alpha = m.comm_alpha;
  c.capacity_factor = m.capacity_factor;
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
  // overwrite_dx: the same dx written over a buffer of NaNs (no zero fill).
  std::vector<float> dx_over(N * C, std::nanf(""));
  ASSERT_TRUE(moe.Backward(dx_over.data(), r.data(), x.data(), B, T, 1.0f, base,
                           /*overwrite_dx=*/true).ok());
  EXPECT_EQ(dx_over, dx);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, MoeGradTest,
    ::testing::Values(MoeCase{"norm_seq_shared", true, true, false, 1},
                      MoeCase{"scaled_seq", false, true, false, 0},
                      MoeCase{"norm_batch_group", true, false, true, 2},
                      MoeCase{"scaled_group_seq", false, true, true, 1},
                      // device-limited routing with all three balance losses
                      MoeCase{"devlimit_all_losses_seq", true, true, false, 1,
                              /*ep_devices=*/4, /*device_limit=*/2, 0.3, 0.3},
                      // each new loss alone (no expert-level loss), seq and batch
                      MoeCase{"device_loss_batch", false, false, false, 0,
                              /*ep_devices=*/2, 0, /*device_alpha=*/0.5, 0, 0,
                              /*aux_alpha=*/0},
                      MoeCase{"comm_loss_seq_devlimit", true, true, false, 0,
                              /*ep_devices=*/4, /*device_limit=*/2, 0,
                              /*comm_alpha=*/0.5, 0, /*aux_alpha=*/0},
                      MoeCase{"comm_loss_batch_unlimited", false, false, false, 1,
                              /*ep_devices=*/4, 0, 0, /*comm_alpha=*/0.5, 0,
                              /*aux_alpha=*/0},
                      // capacity dropping (cap = ceil(0.5*12*3/8) = 3 slots/expert)
                      MoeCase{"capacity_norm_shared", true, true, false, 1, 2, 1,
                              0.2, 0.2, /*capacity_factor=*/0.5},
                      MoeCase{"capacity_scaled", false, false, false, 0, 1, 0, 0,
                              0, /*capacity_factor=*/0.8}),
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

// ---- Expert-parallel routing and losses ----

// Builds a Moe over `config` with a local dispatcher and seeded weights.
struct MoeFixture {
  explicit MoeFixture(const DeepseekV2Config& c, uint64_t seed = 2)
      : dispatcher(c.n_routed_experts) {
    moe = Moe(arena, "mlp", c, &dispatcher);
    EXPECT_TRUE(arena.Allocate().ok());
    arena.Initialize(seed);
  }
  ParamArena arena;
  LocalExpertDispatcher dispatcher;
  Moe moe;
};

int64_t DevicesUsed(const int32_t* idx, int64_t K, int64_t experts_per_device) {
  std::vector<bool> used(64, false);
  int64_t n = 0;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t d = idx[k] / experts_per_device;
    if (!used[d]) ++n;
    used[d] = true;
  }
  return n;
}

TEST(MoeRoutingTest, DeviceLimitedNeverExceedsMDevices) {
  // 16 experts on D devices, K = 4, many random tokens: with the limit no
  // token touches more than M devices; without it many do.
  for (int64_t D : {2, 4, 8}) {
    for (int64_t M = 1; M < D && M <= 3; ++M) {
      DeepseekV2Config c = MoeConfig({"", true, true, false, 0});
      c.n_routed_experts = 16;
      c.num_experts_per_tok = 4;
      c.ep_devices = D;
      c.device_limit = M;
      if (c.num_experts_per_tok > M * (16 / D)) continue;
      MoeFixture with(c, 5);
      c.device_limit = 0;
      MoeFixture without(c, 5);
      const int64_t B = 4, T = 256, N = B * T, K = 4;
      std::vector<float> x = RandomVector(N * c.hidden_size, 100 + D * 10 + M, 2.0f);
      std::vector<float> out(N * c.hidden_size);
      MoeSaved s1, s2;
      ASSERT_TRUE(with.moe.Forward(out.data(), x.data(), B, T, &s1).ok());
      ASSERT_TRUE(without.moe.Forward(out.data(), x.data(), B, T, &s2).ok());
      int64_t over = 0;
      for (int64_t n = 0; n < N; ++n) {
        ASSERT_LE(DevicesUsed(s1.idx.data<int32_t>() + n * K, K, 16 / D), M)
            << "D=" << D << " M=" << M << " token " << n;
        over += DevicesUsed(s2.idx.data<int32_t>() + n * K, K, 16 / D) > M;
      }
      EXPECT_GT(over, N / 20) << "D=" << D << " M=" << M << ": the limit never mattered";
    }
  }
}

TEST(MoeRoutingTest, BadRoutingKnobsAreRejected) {
  DeepseekV2Config c = MoeConfig({"", true, true, false, 0});
  auto error = [](DeepseekV2Config c) {
    MoeFixture f(c);
    std::vector<float> x(2 * c.hidden_size), out(x.size());
    MoeSaved s;
    return std::string(f.moe.Forward(out.data(), x.data(), 1, 2, &s).message());
  };
  DeepseekV2Config bad = c;
  bad.ep_devices = 3;
  // The messages name the fields users write, not the model's own names.
  EXPECT_NE(error(bad).find("parallel.ep_routing_devices"), std::string::npos);
  bad = c;
  bad.ep_devices = 2;
  bad.device_limit = 3;
  EXPECT_NE(error(bad).find("parallel.ep_device_limit"), std::string::npos);
  bad.device_limit = 1;
  bad.topk_method = "group_limited_greedy";
  EXPECT_NE(error(bad).find("group_limited_greedy"), std::string::npos);
  bad = c;
  bad.ep_devices = 8;
  bad.device_limit = 2;  // 2 devices x 1 expert < K = 3
  EXPECT_NE(error(bad).find("exceeds"), std::string::npos);
  bad = c;
  bad.comm_balance_alpha = -1;
  EXPECT_NE(error(bad).find("alpha"), std::string::npos);
  bad = c;
  bad.capacity_factor = -0.5;
  EXPECT_NE(error(bad).find("capacity_factor"), std::string::npos);
}

// The device-level and communication losses against a direct transcription
// of DeepSeek-V2 eq. 29-34 (per sequence, then averaged).
TEST(MoeRoutingTest, DeviceAndCommLossesMatchFormula) {
  DeepseekV2Config c = MoeConfig({"", true, true, false, 0});
  const int64_t E = 8, K = 3, D = 4, M = 2, Ed = E / D;
  c.ep_devices = D;
  c.device_limit = M;
  c.device_balance_alpha = 0.7;
  c.comm_balance_alpha = 0.4;
  MoeFixture f(c, 3);
  const int64_t B = 3, T = 7, N = B * T;
  std::vector<float> x = RandomVector(N * c.hidden_size, 8), out(N * c.hidden_size);
  MoeSaved s;
  ASSERT_TRUE(f.moe.Forward(out.data(), x.data(), B, T, &s).ok());
  double dev = 0, comm = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < D; ++i) {
      double fdev = 0, sent = 0, p = 0;
      for (int64_t t = 0; t < T; ++t) {
        const int32_t* idx = s.idx.data<int32_t>() + (b * T + t) * K;
        bool to_i = false;
        for (int64_t k = 0; k < K; ++k) {
          if (idx[k] / Ed == i) {
            fdev += double(E) / (K * T) / Ed;  // mean over the device's f_e
            to_i = true;
          }
        }
        sent += to_i;
        for (int64_t e = i * Ed; e < (i + 1) * Ed; ++e)
          p += s.scores.data<float>()[(b * T + t) * E + e] / T;
      }
      dev += fdev * p;
      comm += double(D) / (M * T) * sent * p;
    }
  }
  EXPECT_NEAR(s.aux_device, 0.7 * dev / B, 1e-6);
  EXPECT_NEAR(s.aux_comm, 0.4 * comm / B, 1e-6);
  EXPECT_NEAR(s.aux_loss, s.aux_expert + s.aux_device + s.aux_comm, 1e-12);
  EXPECT_GT(s.aux_device, 0);
  EXPECT_GT(s.aux_comm, 0);
}

// The balance losses alone (dout = 0): dx and the router gradient are
// exactly their hand-written gradients, checked by finite differences.
TEST(MoeRoutingTest, BalanceLossGradientsAloneMatchFiniteDifferences) {
  for (bool seq : {true, false}) {
    for (int which = 0; which < 2; ++which) {
      DeepseekV2Config c = MoeConfig({"", true, seq, false, 0});
      c.aux_loss_alpha = 0;
      c.ep_devices = 4;
      c.device_limit = which == 1 ? 2 : 0;
      (which == 0 ? c.device_balance_alpha : c.comm_balance_alpha) = 1.0;
      MoeFixture f(c, 4);
      const int64_t B = 2, T = 6, N = B * T, C = c.hidden_size, K = 3;
      std::vector<float> x = RandomVector(N * C, 60 + which), out(N * C), dx(N * C, 0.0f);
      std::vector<float> zero(N * C, 0.0f);
      MoeSaved base;
      ASSERT_TRUE(f.moe.Forward(out.data(), x.data(), B, T, &base).ok());
      std::vector<int32_t> base_idx(base.idx.data<int32_t>(), base.idx.data<int32_t>() + N * K);
      auto loss = [&]() {
        MoeSaved s;
        EXPECT_TRUE(f.moe.Forward(out.data(), x.data(), B, T, &s).ok());
        for (int64_t i = 0; i < N * K; ++i)
          if (s.idx.data<int32_t>()[i] != base_idx[i]) return std::nan("");
        return s.aux_loss;
      };
      ASSERT_GT(base.aux_loss, 0);
      ASSERT_TRUE(f.moe.Backward(dx.data(), zero.data(), x.data(), B, T, 1.0f, base).ok());
      double norm = 0;
      for (float v : dx) norm += double(v) * v;
      ASSERT_GT(norm, 1e-8) << "the balance loss gave no gradient";
      testing::GradCheckOptions opt{.eps = 3e-3, .rel_tol = 3e-2, .abs_tol = 1e-4};
      const std::string tag = std::string(which == 0 ? "device" : "comm") + (seq ? "_seq" : "_batch");
      auto rx = CheckGradient(tag + ".dx", loss, x.data(), dx.data(), N * C, opt);
      EXPECT_TRUE(rx.ok) << rx.report;
      ParamId gate = *f.arena.Find("mlp.gate.weight");
      auto rg = CheckGradient(tag + ".gate", loss, f.arena.param(gate), f.arena.grad(gate),
                              c.n_routed_experts * C, opt);
      EXPECT_TRUE(rg.ok) << rg.report;
    }
  }
}

// With ep_devices > 1 but every new knob at zero, the layer computes
// bit-for-bit what it computes with ep_devices = 1.
TEST(MoeRoutingTest, DefaultsAreBitIdentical) {
  DeepseekV2Config c = MoeConfig({"", true, true, false, 1});
  MoeFixture a(c, 9);
  c.ep_devices = 4;
  MoeFixture b(c, 9);
  const int64_t B = 2, T = 8, N = B * T, C = c.hidden_size;
  std::vector<float> x = RandomVector(N * C, 3), r = RandomProjection(N * C, 4);
  std::vector<float> oa(N * C), ob(N * C), da(N * C, 0.0f), db(N * C, 0.0f);
  MoeSaved sa, sb;
  ASSERT_TRUE(a.moe.Forward(oa.data(), x.data(), B, T, &sa).ok());
  ASSERT_TRUE(b.moe.Forward(ob.data(), x.data(), B, T, &sb).ok());
  ASSERT_TRUE(a.moe.Backward(da.data(), r.data(), x.data(), B, T, 1.0f, sa).ok());
  ASSERT_TRUE(b.moe.Backward(db.data(), r.data(), x.data(), B, T, 1.0f, sb).ok());
  EXPECT_EQ(oa, ob);
  EXPECT_EQ(da, db);
  EXPECT_EQ(sa.aux_loss, sb.aux_loss);
  EXPECT_EQ(0, std::memcmp(a.arena.grads(), b.arena.grads(), a.arena.size() * sizeof(float)));
}

// Capacity dropping with the local dispatcher: at most `cap` slots per
// expert survive, the dropped ones are each expert's latest slots, their
// contribution is exactly removed from the output, and a capacity that
// drops nothing gives bit-identical results to no capacity.
TEST(MoeCapacityTest, DropsLaterTokensAndRemovesTheirOutput) {
  DeepseekV2Config c = MoeConfig({"", false, true, false, 1});
  const int64_t B = 2, T = 16, N = B * T, C = c.hidden_size, K = 3, E = 8;
  MoeFixture plain(c, 6);
  c.capacity_factor = 0.75;  // cap = ceil(0.75 * 96 / 8) = 9 slots per expert
  MoeFixture capped(c, 6);
  c.capacity_factor = double(E);  // cap = N*K: nothing dropped
  MoeFixture roomy(c, 6);
  const int64_t cap = ExpertCapacity(0.75, N, K, E);
  ASSERT_EQ(cap, 9);
  std::vector<float> x = RandomVector(N * C, 21, 2.0f), r = RandomProjection(N * C, 22);
  std::vector<float> o0(N * C), o1(N * C), o2(N * C);
  MoeSaved s0, s1, s2;
  ASSERT_TRUE(plain.moe.Forward(o0.data(), x.data(), B, T, &s0).ok());
  ASSERT_TRUE(capped.moe.Forward(o1.data(), x.data(), B, T, &s1).ok());
  ASSERT_TRUE(roomy.moe.Forward(o2.data(), x.data(), B, T, &s2).ok());
  ASSERT_EQ(s0.dropped, 0);
  ASSERT_EQ(s2.dropped, 0);
  EXPECT_EQ(o0, o2) << "a capacity that drops nothing changed the output";
  ASSERT_GT(s1.dropped, 0) << "test needs some drops";
  // Which slots: per expert, exactly its first min(cap, load) slots.
  const int32_t* idx = s1.idx.data<int32_t>();
  std::vector<bool> kept(N * K, false);
  for (int64_t slot : s1.kept_slots) kept[slot] = true;
  std::vector<int64_t> seen(E, 0);
  int64_t dropped = 0;
  for (int64_t slot = 0; slot < N * K; ++slot) {
    EXPECT_EQ(kept[slot], seen[idx[slot]] < cap) << "slot " << slot;
    ++seen[idx[slot]];
    dropped += !kept[slot];
  }
  EXPECT_EQ(dropped, s1.dropped);
  int64_t by_expert = 0;
  for (int64_t e = 0; e < E; ++e) {
    EXPECT_EQ(s1.expert_dropped[e], std::max<int64_t>(0, seen[e] - cap));
    by_expert += s1.expert_dropped[e];
  }
  EXPECT_EQ(by_expert, dropped);
  // Output: the uncapped output minus w * expert(x) of each dropped slot.
  const float* w = s0.weights.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t cc = 0; cc < C; ++cc) {
      double want = o0[n * C + cc];
      for (int64_t k = 0; k < K; ++k)
        if (!kept[n * K + k]) want -= double(w[n * K + k]) * s0.expert_out.data<float>()[s0.plan.slot_row[n * K + k] * C + cc];
      ASSERT_NEAR(o1[n * C + cc], want, 1e-5) << "token " << n;
    }
  }
  // Backward: a dropped slot gets no gradient; roomy == plain bit for bit.
  std::vector<float> d0(N * C, 0.0f), d2(N * C, 0.0f);
  ASSERT_TRUE(plain.moe.Backward(d0.data(), r.data(), x.data(), B, T, 1.0f, s0).ok());
  ASSERT_TRUE(roomy.moe.Backward(d2.data(), r.data(), x.data(), B, T, 1.0f, s2).ok());
  EXPECT_EQ(d0, d2);
  EXPECT_EQ(0, std::memcmp(plain.arena.grads(), roomy.arena.grads(),
                           plain.arena.size() * sizeof(float)));
  // The experts saw exactly the kept slots.
  EXPECT_EQ(s1.plan.rows(), N * K - s1.dropped);
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
