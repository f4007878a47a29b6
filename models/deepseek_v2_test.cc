// Whole-model tests on a tiny DeepSeek-V2 (MLA + dense + MoE blocks):
// finite-difference gradients of the full loss (cross-entropy + balance
// loss) for sampled elements of every parameter tensor, recomputation
// giving bit-identical gradients, determinism, HF tensor names, and clear
// errors for out-of-vocabulary tokens.
#include "models/deepseek_v2.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/rng.h"
#include "models/kernels/cpu/weight_grad_queue.h"
#include "models/testing/grad_check.h"

namespace hs::models {
namespace {

DeepseekV2Config TinyConfig() {
  DeepseekV2Config c;
  c.vocab_size = 37;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.moe_intermediate_size = 8;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 2;
  c.n_shared_experts = 1;
  c.n_routed_experts = 6;
  c.num_experts_per_tok = 2;
  c.first_k_dense_replace = 1;
  c.moe_layer_freq = 1;
  c.kv_lora_rank = 8;
  c.q_lora_rank = 10;
  c.qk_nope_head_dim = 4;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 4;
  c.norm_topk_prob = true;
  c.aux_loss_alpha = 0.05;
  c.initializer_range = 0.2;
  c.max_position_embeddings = 64;
  return c;
}

std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, uint64_t seed) {
  Philox rng(seed, 0);
  std::vector<int32_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = int32_t(rng.Uint64Below(i, vocab));
  return t;
}

TEST(DeepseekV2Test, ParameterNamesFollowHuggingFace) {
  auto model = DeepseekV2Model::Create(TinyConfig(), {.seed = 1});
  ASSERT_TRUE(model.ok()) << model.status();
  ParamArena& a = (*model)->arena();
  for (const char* name :
       {"model.embed_tokens.weight", "model.layers.0.self_attn.q_a_proj.weight",
        "model.layers.0.self_attn.q_a_layernorm.weight",
        "model.layers.0.self_attn.q_b_proj.weight",
        "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
        "model.layers.0.self_attn.kv_a_layernorm.weight",
        "model.layers.0.self_attn.kv_b_proj.weight", "model.layers.0.self_attn.o_proj.weight",
        "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.down_proj.weight",
        "model.layers.0.input_layernorm.weight",
        "model.layers.0.post_attention_layernorm.weight",
        "model.layers.1.mlp.gate.weight", "model.layers.1.mlp.experts.5.up_proj.weight",
        "model.layers.2.mlp.shared_experts.down_proj.weight", "model.norm.weight",
        "lm_head.weight"}) {
    EXPECT_TRUE(a.Find(name).ok()) << name;
  }
  const ParamSpec& kv_b = a.spec(*a.Find("model.layers.0.self_attn.kv_b_proj.weight"));
  EXPECT_EQ(kv_b.shape, (Shape{2 * (4 + 4), 8}));
  const ParamSpec& kv_a = a.spec(*a.Find("model.layers.0.self_attn.kv_a_proj_with_mqa.weight"));
  EXPECT_EQ(kv_a.shape, (Shape{8 + 4, 16}));
  EXPECT_FALSE(a.Find("model.layers.0.mlp.gate.weight").ok());  // layer 0 is dense
}

TEST(DeepseekV2Test, FullModelGradientsMatchFiniteDifferences) {
  DeepseekV2Config c = TinyConfig();
  auto created = DeepseekV2Model::Create(c, {.seed = 7});
  ASSERT_TRUE(created.ok()) << created.status();
  DeepseekV2Model& m = **created;
  const int64_t B = 2, T = 6;
  std::vector<int32_t> tok = RandomTokens(B * (T + 1), c.vocab_size, 3);
  std::vector<int32_t> in, tgt;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      in.push_back(tok[b * (T + 1) + t]);
      tgt.push_back(tok[b * (T + 1) + t + 1]);
    }
  tgt[3] = -100;  // an ignored target
  auto base = m.Forward(in.data(), tgt.data(), B, T);
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base->valid_tokens, B * T - 1);
  EXPECT_GT(base->aux_loss, 0.0);
  std::vector<int64_t> base_load = m.ExpertLoad();
  m.arena().ZeroGrads();
  ASSERT_TRUE(m.Backward(1.0f, 1.0f).ok());
  // loss = ce_sum + aux (ce_scale = aux_scale = 1); NaN if routing changed.
  auto loss = [&]() {
    auto r = m.Forward(in.data(), tgt.data(), B, T);
    EXPECT_TRUE(r.ok());
    if (m.ExpertLoad() != base_load) return std::nan("");
    return r->ce_sum + r->aux_loss;
  };
  testing::GradCheckOptions opt{.eps = 3e-3, .rel_tol = 3e-2, .abs_tol = 5e-3, .max_checks = 6};
  int tensors = 0;
  for (const ParamSpec& spec : m.arena().specs()) {
    ParamId id = *m.arena().Find(spec.name);
    auto r = testing::CheckGradient(spec.name, loss, m.arena().param(id),
                                    m.arena().grad(id), spec.numel, opt);
    EXPECT_TRUE(r.ok) << r.report;
    ++tensors;
  }
  EXPECT_EQ(tensors, int(m.arena().specs().size()));
}

TEST(DeepseekV2Test, RecomputeGivesIdenticalGradients) {
  DeepseekV2Config c = TinyConfig();
  auto plain = DeepseekV2Model::Create(c, {.seed = 9});
  auto recomputed = DeepseekV2Model::Create(c, {.seed = 9, .recompute_all = true});
  ASSERT_TRUE(plain.ok() && recomputed.ok());
  const int64_t B = 2, T = 8;
  std::vector<int32_t> in = RandomTokens(B * T, c.vocab_size, 5);
  std::vector<int32_t> tgt = RandomTokens(B * T, c.vocab_size, 6);
  for (auto* m : {plain->get(), recomputed->get()}) {
    auto r = m->Forward(in.data(), tgt.data(), B, T);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(m->Backward(1.0f / (B * T), 0.5f).ok());
  }
  const ParamArena& a = (*plain)->arena();
  const ParamArena& b = (*recomputed)->arena();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.grads(), b.grads(), a.size() * sizeof(float)));
}

TEST(DeepseekV2Test, DeterministicAcrossRuns) {
  DeepseekV2Config c = TinyConfig();
  std::vector<int32_t> in = RandomTokens(16, c.vocab_size, 1), tgt = RandomTokens(16, c.vocab_size, 2);
  double losses[2];
  std::vector<float> grads[2];
  for (int run = 0; run < 2; ++run) {
    auto m = DeepseekV2Model::Create(c, {.seed = 3});
    ASSERT_TRUE(m.ok());
    auto r = (*m)->Forward(in.data(), tgt.data(), 2, 8);
    ASSERT_TRUE(r.ok());
    losses[run] = r->ce_sum;
    ASSERT_TRUE((*m)->Backward(1.0f, 1.0f).ok());
    grads[run].assign((*m)->arena().grads(), (*m)->arena().grads() + (*m)->arena().size());
  }
  EXPECT_EQ(losses[0], losses[1]);
  EXPECT_EQ(grads[0], grads[1]);
}

// Forward with backward_ce_scale writes the cross-entropy's gradient with
// the loss: the same loss and the same gradient bits as the two passes, and
// a Backward at another scale (or with token weights) is refused.
TEST(DeepseekV2Test, ForwardWithTheBackwardScaleGivesTheSameGradients) {
  DeepseekV2Config c = TinyConfig();
  const int64_t B = 2, T = 8;
  std::vector<int32_t> in = RandomTokens(B * T, c.vocab_size, 7);
  std::vector<int32_t> tgt = RandomTokens(B * T, c.vocab_size, 8);
  tgt[3] = -100;  // an ignored target
  const float ce_scale = 1.0f / 15;
  double losses[2];
  std::vector<float> grads[2];
  for (int fused = 0; fused < 2; ++fused) {
    auto m = DeepseekV2Model::Create(c, {.seed = 4});
    ASSERT_TRUE(m.ok());
    std::optional<float> scale;
    if (fused) scale = ce_scale;
    auto r = (*m)->Forward(in.data(), tgt.data(), B, T, nullptr, scale);
    ASSERT_TRUE(r.ok());
    losses[fused] = r->ce_sum;
    ASSERT_TRUE((*m)->Backward(ce_scale, 0.5f).ok());
    grads[fused].assign((*m)->arena().grads(), (*m)->arena().grads() + (*m)->arena().size());
    if (fused) {
      ASSERT_TRUE((*m)->Forward(in.data(), tgt.data(), B, T, nullptr, scale).ok());
      absl::Status other = (*m)->Backward(2 * ce_scale, 0.5f);
      EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition) << other;
      std::vector<float> weights(B * T, 1.0f);
      ASSERT_TRUE((*m)->Forward(in.data(), tgt.data(), B, T, nullptr, scale).ok());
      absl::Status weighted = (*m)->Backward(ce_scale, 0.5f, nullptr, weights.data());
      EXPECT_EQ(weighted.code(), absl::StatusCode::kFailedPrecondition) << weighted;
    }
  }
  EXPECT_EQ(losses[0], losses[1]);
  EXPECT_EQ(grads[0], grads[1]);
}

TEST(DeepseekV2Test, GradReadyHookCoversArenaInReverse) {
  DeepseekV2Config c = TinyConfig();
  auto m = DeepseekV2Model::Create(c, {.seed = 3});
  ASSERT_TRUE(m.ok());
  std::vector<int32_t> in = RandomTokens(8, c.vocab_size, 1), tgt = RandomTokens(8, c.vocab_size, 2);
  ASSERT_TRUE((*m)->Forward(in.data(), tgt.data(), 1, 8).ok());
  std::vector<std::pair<int64_t, int64_t>> ranges;
  ASSERT_TRUE((*m)->Backward(1.0f, 1.0f, [&](int64_t b, int64_t e) { ranges.push_back({b, e}); }).ok());
  ASSERT_EQ(ranges.size(), size_t(c.num_hidden_layers + 2));
  // Contiguous, covering [0, size), reported from the end backwards.
  EXPECT_EQ(ranges.front().second, (*m)->arena().size());
  for (size_t i = 1; i < ranges.size(); ++i) EXPECT_EQ(ranges[i].second, ranges[i - 1].first);
  EXPECT_EQ(ranges.back().first, 0);
}

// Two pipeline stages (same seed, so the same parameters by name) chained
// by hand give the whole model's loss and gradients; deferring the weight
// gradients (zero-bubble W passes) changes nothing.
TEST(DeepseekV2Test, PipelineStagesEqualWholeModel) {
  DeepseekV2Config c = TinyConfig();
  auto whole = DeepseekV2Model::Create(c, {.seed = 4});
  auto s0 = DeepseekV2Model::Create(c, {.seed = 4, .first_layer = 0, .end_layer = 2});
  auto s1 = DeepseekV2Model::Create(c, {.seed = 4, .first_layer = 2, .end_layer = 3});
  ASSERT_TRUE(whole.ok() && s0.ok() && s1.ok());
  EXPECT_TRUE((*s0)->has_embedding() && !(*s0)->has_head());
  EXPECT_TRUE(!(*s1)->has_embedding() && (*s1)->has_head());
  const int64_t B = 2, T = 5;
  std::vector<int32_t> in = RandomTokens(B * T, c.vocab_size, 8), tgt = RandomTokens(B * T, c.vocab_size, 9);
  auto rw = (*whole)->Forward(in.data(), tgt.data(), B, T);
  ASSERT_TRUE(rw.ok());
  ASSERT_TRUE((*whole)->Backward(0.1f, 0.5f).ok());
  for (bool defer : {false, true}) {
    (*s0)->arena().ZeroGrads();
    (*s1)->arena().ZeroGrads();
    Activations a0, a1;
    auto r0 = (*s0)->StageForward(&a0, in.data(), nullptr, nullptr, B, T);
    ASSERT_TRUE(r0.ok()) << r0.status();
    auto r1 = (*s1)->StageForward(&a1, nullptr, a0.output().data<float>(), tgt.data(), B, T);
    ASSERT_TRUE(r1.ok()) << r1.status();
    EXPECT_EQ(r1->ce_sum, rw->ce_sum);
    EXPECT_EQ(r0->aux_loss + r1->aux_loss, rw->aux_loss);
    kernels::cpu::WeightGradQueue w0, w1;
    {
      kernels::cpu::WeightGradScope scope(defer ? &w1 : nullptr);
      ASSERT_TRUE((*s1)->StageBackward(&a1, nullptr, 0.1f, 0.5f).ok());
    }
    {
      kernels::cpu::WeightGradScope scope(defer ? &w0 : nullptr);
      ASSERT_TRUE((*s0)->StageBackward(&a0, a1.input_grad().data<float>(), 0.1f, 0.5f).ok());
    }
    EXPECT_EQ(defer, !w0.empty() && !w1.empty());
    w1.RunAll();
    w0.RunAll();
    for (auto* stage : {s0->get(), s1->get()}) {
      for (const ParamSpec& spec : stage->arena().specs()) {
        ParamId wid = *(*whole)->arena().Find(spec.name);
        ParamId sid = *stage->arena().Find(spec.name);
        ASSERT_EQ(0, std::memcmp((*whole)->arena().grad(wid), stage->arena().grad(sid),
                                 spec.numel * sizeof(float)))
            << spec.name << (defer ? " (deferred W)" : "");
      }
    }
  }
}

TEST(DeepseekV2Test, OutOfVocabularyTokenIsAClearError) {
  DeepseekV2Config c = TinyConfig();
  auto m = DeepseekV2Model::Create(c, {.seed = 3});
  ASSERT_TRUE(m.ok());
  std::vector<int32_t> in(8, 1), tgt(8, 2);
  in[5] = 37;
  auto r = (*m)->Forward(in.data(), tgt.data(), 1, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("input token[5] = 37"), std::string::npos) << r.status();
}

TEST(DeepseekV2Test, FlopsCountsLmHeadAndBlocks) {
  DeepseekV2Config c = TinyConfig();
  auto m = DeepseekV2Model::Create(c, {.seed = 3});
  ASSERT_TRUE(m.ok());
  double f = (*m)->ForwardFlopsPerToken(8);
  EXPECT_GT(f, 2.0 * 16 * 37);
  EXPECT_DOUBLE_EQ((*m)->TrainingFlopsPerToken(8), 3 * f);
}

}  // namespace
}  // namespace hs::models
