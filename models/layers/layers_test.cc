// Finite-difference gradient checks for the dense layers: MLA (with and
// without q compression, with YaRN), the SwiGLU MLP, RMSNorm and a whole
// dense decoder block (with and without recomputation).
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "models/layers/decoder_block.h"
#include "models/layers/mla.h"
#include "models/layers/mlp.h"
#include "models/layers/rms_norm.h"
#include "models/testing/grad_check.h"

namespace hs::models {
namespace {

using testing::CheckGradient;
using testing::Dot;
using testing::RandomProjection;
using testing::RandomVector;

DeepseekV2Config SmallAttentionConfig(bool q_lora, bool yarn) {
  DeepseekV2Config c;
  c.hidden_size = 24;
  c.num_attention_heads = 3;
  c.q_lora_rank = q_lora ? 12 : 0;
  c.kv_lora_rank = 10;
  c.qk_nope_head_dim = 6;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 5;
  c.initializer_range = 0.3;
  c.intermediate_size = 20;
  c.n_routed_experts = 0;
  c.num_hidden_layers = 1;
  if (yarn) {
    c.rope_scaling.yarn = true;
    c.rope_scaling.factor = 40;
    c.rope_scaling.original_max_position_embeddings = 8;
    c.rope_scaling.mscale = 0.707;
    c.rope_scaling.mscale_all_dim = 0.707;
  }
  return c;
}

// Checks d(loss)/d(every parameter) for an arena, sampling each tensor.
void CheckAllParams(ParamArena& arena, const std::function<double()>& loss,
                    const std::string& what) {
  for (const ParamSpec& spec : arena.specs()) {
    ParamId id = *arena.Find(spec.name);
    auto r = CheckGradient(what + ":" + spec.name, loss, arena.param(id),
                           arena.grad(id), spec.numel, {.max_checks = 24});
    EXPECT_TRUE(r.ok) << r.report;
  }
}

class MlaGradTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(MlaGradTest, MatchesFiniteDifferences) {
  auto [q_lora, yarn] = GetParam();
  DeepseekV2Config c = SmallAttentionConfig(q_lora, yarn);
  ParamArena arena;
  Mla mla(arena, "attn", c);
  ASSERT_TRUE(arena.Allocate().ok());
  arena.Initialize(3);
  const int64_t B = 2, T = 7, N = B * T, C = c.hidden_size;
  RopeCache rope = RopeCache::Build(c, 16);
  std::vector<float> x = RandomVector(N * C, 11);
  std::vector<float> r = RandomProjection(N * C, 12);
  std::vector<float> out(N * C), dx(N * C, 0.0f);
  auto loss = [&]() {
    MlaSaved s;
    mla.Forward(out.data(), x.data(), B, T, rope, &s);
    return Dot(out.data(), r.data(), N * C);
  };
  MlaSaved saved;
  mla.Forward(out.data(), x.data(), B, T, rope, &saved);
  arena.ZeroGrads();
  mla.Backward(dx.data(), r.data(), x.data(), B, T, rope, saved);
  auto rx = CheckGradient("mla.dx", loss, x.data(), dx.data(), N * C);
  EXPECT_TRUE(rx.ok) << rx.report;
  CheckAllParams(arena, loss, "mla");
}

INSTANTIATE_TEST_SUITE_P(Variants, MlaGradTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(MlaTest, IsCausal) {
  // Changing a later token must not change earlier outputs.
  DeepseekV2Config c = SmallAttentionConfig(true, false);
  ParamArena arena;
  Mla mla(arena, "attn", c);
  ASSERT_TRUE(arena.Allocate().ok());
  arena.Initialize(5);
  const int64_t T = 9, C = c.hidden_size;
  RopeCache rope = RopeCache::Build(c, T);
  std::vector<float> x = RandomVector(T * C, 1), a(T * C), b(T * C);
  MlaSaved s;
  mla.Forward(a.data(), x.data(), 1, T, rope, &s);
  for (int64_t i = 6 * C; i < T * C; ++i) x[i] += 1.0f;
  mla.Forward(b.data(), x.data(), 1, T, rope, &s);
  for (int64_t i = 0; i < 6 * C; ++i) ASSERT_EQ(a[i], b[i]) << i;
  EXPECT_NE(a[8 * C], b[8 * C]);
}

TEST(MlaTest, YarnScalesSoftmax) {
  DeepseekV2Config c = SmallAttentionConfig(false, true);
  // scale = 1/sqrt(10) * (0.1 * 0.707 * ln 40 + 1)^2
  double m = 0.1 * 0.707 * std::log(40.0) + 1.0;
  EXPECT_NEAR(MlaSoftmaxScale(c), m * m / std::sqrt(10.0), 1e-6);
  c.rope_scaling.yarn = false;
  EXPECT_NEAR(MlaSoftmaxScale(c), 1.0 / std::sqrt(10.0), 1e-7);
}

TEST(MlpTest, MatchesFiniteDifferences) {
  ParamArena arena;
  Mlp mlp(arena, "mlp", 16, 12, 0.3f);
  ASSERT_TRUE(arena.Allocate().ok());
  arena.Initialize(8);
  const int64_t N = 9, C = 16;
  std::vector<float> x = RandomVector(N * C, 21), r = RandomProjection(N * C, 22);
  std::vector<float> out(N * C), dx(N * C, 0.0f);
  auto loss = [&]() {
    MlpSaved s;
    mlp.Forward(out.data(), x.data(), N, &s);
    return Dot(out.data(), r.data(), N * C);
  };
  MlpSaved saved;
  mlp.Forward(out.data(), x.data(), N, &saved);
  mlp.Backward(dx.data(), r.data(), x.data(), N, saved);
  auto rx = CheckGradient("mlp.dx", loss, x.data(), dx.data(), N * C);
  EXPECT_TRUE(rx.ok) << rx.report;
  CheckAllParams(arena, loss, "mlp");
}

TEST(RmsNormLayerTest, MatchesFiniteDifferences) {
  ParamArena arena;
  RmsNorm norm(arena, "norm", 13, 1e-6f);
  ASSERT_TRUE(arena.Allocate().ok());
  // Non-trivial weights.
  std::vector<float> w = RandomVector(13, 3);
  for (int i = 0; i < 13; ++i) arena.params()[i] = 1.0f + w[i];
  const int64_t N = 5, C = 13;
  std::vector<float> x = RandomVector(N * C, 31), r = RandomProjection(N * C, 32);
  std::vector<float> out(N * C), rstd(N), dx(N * C, 0.0f);
  auto loss = [&]() {
    std::vector<float> rs(N);
    norm.Forward(out.data(), rs.data(), x.data(), N);
    return Dot(out.data(), r.data(), N * C);
  };
  norm.Forward(out.data(), rstd.data(), x.data(), N);
  norm.Backward(dx.data(), r.data(), x.data(), rstd.data(), N);
  auto rx = CheckGradient("rms_norm.dx", loss, x.data(), dx.data(), N * C);
  EXPECT_TRUE(rx.ok) << rx.report;
  CheckAllParams(arena, loss, "rms_norm");
}

class DenseBlockTest : public ::testing::TestWithParam<bool> {};

TEST_P(DenseBlockTest, MatchesFiniteDifferences) {
  const bool recompute = GetParam();
  DeepseekV2Config c = SmallAttentionConfig(true, false);
  ParamArena arena;
  DecoderBlock block(arena, 0, c, nullptr);
  ASSERT_TRUE(arena.Allocate().ok());
  arena.Initialize(4);
  EXPECT_EQ(block.param_begin(), 0);
  EXPECT_EQ(block.param_end(), arena.size());
  const int64_t B = 2, T = 5, N = B * T, C = c.hidden_size;
  RopeCache rope = RopeCache::Build(c, T);
  std::vector<float> x = RandomVector(N * C, 41), r = RandomProjection(N * C, 42);
  std::vector<float> out(N * C), dx(N * C, 0.0f);
  auto loss = [&]() {
    BlockSaved s;
    EXPECT_TRUE(block.Forward(out.data(), x.data(), B, T, rope, false, &s).ok());
    return Dot(out.data(), r.data(), N * C);
  };
  BlockSaved saved;
  ASSERT_TRUE(block.Forward(out.data(), x.data(), B, T, rope, recompute, &saved).ok());
  EXPECT_EQ(saved.valid, !recompute);
  ASSERT_TRUE(block.Backward(dx.data(), r.data(), x.data(), B, T, rope, 1.0f, &saved).ok());
  auto rx = CheckGradient("block.dx", loss, x.data(), dx.data(), N * C);
  EXPECT_TRUE(rx.ok) << rx.report;
  CheckAllParams(arena, loss, recompute ? "block(recompute)" : "block");
}

INSTANTIATE_TEST_SUITE_P(Recompute, DenseBlockTest, ::testing::Bool());

}  // namespace
}  // namespace hs::models
