// File: models/cuda_model/device_model_plan_test.cc
//
// The device plan against the CPU model it mirrors: the same parameter
// names, shapes, offsets and decay flags as DeepseekV2Model's ParamArena,
// the same FLOP count, and activation regions that are aligned, disjoint
// and inside the arena. Plain C++: no CUDA.
#include "models/cuda_model/device_model_plan.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "models/deepseek_v2.h"

namespace hs::models::cuda_model {
namespace {

DeepseekV2Config TinyMoe(int64_t q_lora) {
  DeepseekV2Config c;
  c.vocab_size = 96;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 2;
  c.n_shared_experts = 2;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 3;
  c.kv_lora_rank = 16;
  c.q_lora_rank = q_lora;
  c.qk_rope_head_dim = 8;
  c.qk_nope_head_dim = 16;
  c.v_head_dim = 8;
  c.topk_method = "group_limited_greedy";
  c.n_group = 4;
  c.topk_group = 2;
  c.first_k_dense_replace = 1;
  c.max_position_embeddings = 64;
  return c;
}

void ExpectSameLayout(const DeepseekV2Config& c, int64_t B, int64_t T) {
  auto plan = DeviceModelPlan::Create(c, B, T);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto cpu = DeepseekV2Model::Create(c, {.seed = 1});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const ParamArena& arena = (*cpu)->arena();
  EXPECT_EQ(plan->param_floats(), arena.size());
  ASSERT_EQ(plan->params().size(), arena.specs().size());
  for (size_t i = 0; i < arena.specs().size(); ++i) {
    const ParamSpec& s = arena.specs()[i];
    const ParamSlot& d = plan->params()[i];
    EXPECT_EQ(d.name, s.name);
    EXPECT_EQ(d.shape, std::vector<int64_t>(s.shape.begin(), s.shape.end())) << s.name;
    EXPECT_EQ(d.offset, s.offset) << s.name;
    EXPECT_EQ(d.numel, s.numel) << s.name;
    EXPECT_EQ(d.weight_decay, s.weight_decay) << s.name;
    EXPECT_EQ(d.expert, s.expert) << s.name;
  }
  ASSERT_EQ(int64_t(plan->layers().size()), (*cpu)->num_blocks());
  for (int64_t i = 0; i < (*cpu)->num_blocks(); ++i) {
    EXPECT_EQ(plan->layer(i).param_begin, (*cpu)->block(i).param_begin());
    EXPECT_EQ(plan->layer(i).param_end, (*cpu)->block(i).param_end());
    EXPECT_EQ(plan->layer(i).moe, (*cpu)->block(i).is_moe());
  }
  // The bench's host initialisation gives the CPU model's values.
  ParamArena host;
  ASSERT_TRUE(InitHostArena(*plan, 1, &host).ok());
  ASSERT_EQ(host.size(), arena.size());
  for (int64_t i = 0; i < arena.size(); ++i) {
    ASSERT_EQ(host.params()[i], arena.params()[i]) << i;
  }
  // gate_proj | up_proj adjacent: the fused [2I, C] GEMM operand.
  for (const LayerSlots& l : plan->layers()) {
    for (int g : l.expert_gate) {
      EXPECT_EQ(plan->param(g + 1).offset, plan->param(g).offset + plan->param(g).numel);
    }
  }
  EXPECT_NEAR(plan->TrainingFlopsPerToken(), (*cpu)->TrainingFlopsPerToken(T),
              1e-12 * (*cpu)->TrainingFlopsPerToken(T));
  // Decay segments tile [0, size) and agree with the specs.
  int64_t at = 0;
  for (const auto& seg : plan->decay_segments()) {
    EXPECT_EQ(seg.begin, at);
    EXPECT_LT(seg.begin, seg.end);
    at = seg.end;
  }
  EXPECT_EQ(at, arena.size());
  for (const ParamSpec& s : arena.specs()) {
    for (const auto& seg : plan->decay_segments()) {
      if (s.offset >= seg.begin && s.offset < seg.end) {
        EXPECT_EQ(seg.decay, s.weight_decay) << s.name;
        EXPECT_LE(s.offset + s.numel, seg.end) << s.name;
      }
    }
  }
}

TEST(DeviceModelPlanTest, SameLayoutAsCpuArenaWithQLora) { ExpectSameLayout(TinyMoe(24), 2, 16); }
TEST(DeviceModelPlanTest, SameLayoutAsCpuArenaWithoutQLora) { ExpectSameLayout(TinyMoe(0), 3, 8); }

TEST(DeviceModelPlanTest, DenseModel) {
  DeepseekV2Config c = TinyMoe(0);
  c.n_routed_experts = 0;
  c.n_shared_experts = 0;
  c.num_experts_per_tok = 0;
  ExpectSameLayout(c, 2, 8);
  auto plan = DeviceModelPlan::Create(c, 2, 8);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->num_moe_layers(), 0);
  EXPECT_EQ(plan->shared().router_logits, -1);
}

// Collects every region offset of the plan with its byte size, then checks
// alignment and that regions neither overlap nor leave the arena.
TEST(DeviceModelPlanTest, ActivationRegionsAlignedAndDisjoint) {
  const DeepseekV2Config c = TinyMoe(24);
  const int64_t B = 2, T = 16, N = B * T;
  auto plan = DeviceModelPlan::Create(c, B, T);
  ASSERT_TRUE(plan.ok());
  std::vector<int64_t> offs;
  auto add = [&](int64_t o) {
    if (o >= 0) offs.push_back(o);
  };
  for (const LayerSlots& l : plan->layers()) {
    const LayerActs& a = l.acts;
    for (int64_t o : {a.x, a.h1, a.rstd1, a.x2, a.h2, a.rstd2, a.q_a, a.q_a_rstd, a.q_a_norm, a.q,
                      a.kv_a, a.c_kv, a.c_kv_rstd, a.c_kv_norm, a.kv, a.k, a.v, a.attn, a.lse,
                      a.gate_up, a.act, a.probs, a.idx, a.topk, a.weights, a.aux_f, a.offsets,
                      a.slot_row, a.expert_in, a.e_gate_up, a.e_act, a.expert_out, a.s_gate_up,
                      a.s_act}) {
      add(o);
    }
    EXPECT_EQ(l.moe, a.probs >= 0);
    EXPECT_EQ(!l.moe, a.gate_up >= 0);
  }
  const SharedActs& s = plan->shared();
  for (int64_t o : {s.tokens, s.targets, s.x_final, s.hN, s.rstdN, s.logits, s.lse, s.losses,
                    s.valid, s.branch_out, s.dres, s.dh, s.dattn, s.dq, s.dk, s.dv, s.dkv,
                    s.dkv_a, s.dc_kv_norm, s.dc_kv, s.dq_a_norm, s.dq_a, s.dact, s.dgate_up,
                    s.dexpert_out, s.dexpert_in, s.dsum, s.router_logits, s.dscores, s.dweights,
                    s.dlogits16, s.rms_scratch, s.permute_scratch, s.invalid, s.aux_partials,
                    s.sumsq, s.sumsq_scratch, s.clip_scale, s.clip_norm}) {
    add(o);
  }
  std::sort(offs.begin(), offs.end());
  EXPECT_TRUE(std::adjacent_find(offs.begin(), offs.end()) == offs.end()) << "shared offsets";
  for (int64_t o : offs) {
    EXPECT_EQ(o % kActAlign, 0);
    EXPECT_LT(o, plan->activation_bytes());
  }
  // Region sizes: consecutive offsets leave room for the largest tensors.
  const LayerActs& a0 = plan->layer(0).acts;
  EXPECT_GE(a0.h1 - a0.x, N * c.hidden_size * 2);
  EXPECT_GE(plan->shared().lse - plan->shared().logits, N * c.vocab_size * 2);
  EXPECT_GT(plan->saved_bytes(), 0);
  EXPECT_LT(plan->saved_bytes(), plan->activation_bytes());
  // Byte totals: four fp32 arenas + one bf16 arena of the padded size.
  EXPECT_EQ(plan->padded_param_floats() % 16, 0);
  EXPECT_GE(plan->padded_param_floats(), plan->param_floats());
  EXPECT_EQ(plan->param_bytes() + plan->grad_bytes() + plan->optimizer_bytes() +
                plan->bf16_weight_bytes(),
            18 * plan->padded_param_floats());
  EXPECT_EQ(plan->total_bytes(), 18 * plan->padded_param_floats() + plan->activation_bytes() +
                                     plan->gemm_workspace_bytes());
  EXPECT_FALSE(plan->Summary().empty());
}

TEST(DeviceModelPlanTest, DeepSeekV2LiteBytesAreSane) {
  DeepseekV2Config c;  // DeepSeek-V2-Lite
  c.vocab_size = 102400;
  c.hidden_size = 2048;
  c.intermediate_size = 10944;
  c.moe_intermediate_size = 1408;
  c.num_hidden_layers = 27;
  c.num_attention_heads = 16;
  c.n_shared_experts = 2;
  c.n_routed_experts = 64;
  c.num_experts_per_tok = 6;
  c.kv_lora_rank = 512;
  c.q_lora_rank = 0;
  c.first_k_dense_replace = 1;
  auto plan = DeviceModelPlan::Create(c, 1, 2048);
  ASSERT_TRUE(plan.ok());
  // 15.7B parameters (HF model card).
  EXPECT_NEAR(double(plan->param_floats()), 15.7e9, 0.1e9);
  EXPECT_EQ(plan->num_moe_layers(), 26);
  // Activations at 2048 tokens: more than the logits, well under 80 GB.
  EXPECT_GT(plan->activation_bytes(), 2048LL * 102400 * 2);
  EXPECT_LT(plan->activation_bytes(), 40LL << 30);
}

TEST(DeviceModelPlanTest, RejectsExpertParallelRouting) {
  DeepseekV2Config c = TinyMoe(0);
  c.capacity_factor = 1.25;
  EXPECT_FALSE(DeviceModelPlan::Create(c, 1, 8).ok());
  c.capacity_factor = 0;
  EXPECT_FALSE(DeviceModelPlan::Create(c, 0, 8).ok());
}

}  // namespace
}  // namespace hs::models::cuda_model
