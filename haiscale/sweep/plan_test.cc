// File: haiscale/sweep/plan_test.cc — sweep config validation, the family
// rule and the plan's arithmetic.
#include "haiscale/sweep/plan.h"

#include <cmath>

#include "gtest/gtest.h"
#include "haiscale/sweep/family.h"
#include "haiscale/sweep/sweep_config.h"

namespace hs::sweep {
namespace {

// The quickstart's model inline, 4 blocks of width 128 (32 per head).
constexpr char kBase[] = R"pb(
  base {
    model {
      vocab_size: 256 hidden_size: 128 intermediate_size: 384 moe_intermediate_size: 64
      num_hidden_layers: 4 num_attention_heads: 4 kv_lora_rank: 64
      qk_nope_head_dim: 16 qk_rope_head_dim: 8 v_head_dim: 16
      first_k_dense_replace: 1 n_routed_experts: 8 num_experts_per_tok: 2 n_shared_experts: 1
      max_position_embeddings: 256 bos_token_id: 0 eos_token_id: 0
    }
    train { steps: 10 global_batch_size: 16 micro_batch_size: 16 seq_len: 128 }
    data { train_path: "train.bin" eval_path: "val.bin" }
  }
)pb";

absl::StatusOr<Sweep> Parse(const std::string& extra) {
  return ParseSweepText(std::string(kBase) + extra, "s.pbtxt", ".");
}

TEST(SweepConfigTest, BadFieldsAreNamed) {
  struct Case {
    std::string text, field;
  };
  const Case cases[] = {
      {"budgets: [1e12, -1] family { depths: [1, 2, 3] }", "budgets[1]: must be > 0"},
      {"budgets: [1e12] family { depths: [2, 2, 3] }", "family.depths[1]: 2 appears twice"},
      {"budgets: [1e12]", "family.min_depth: must be >= 1"},
      {"family { depths: [1, 2, 3] }", "budgets: at least one"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } hparams { rule: FIXED }",
       "hparams.batch_tokens: must be > 0 with rule FIXED"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } hparams { rule: GRID grid_lr: [1e-3] }",
       "hparams.grid_batch_tokens: required"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } execution { parallel_runs: 0 }",
       "execution.parallel_runs: must be >= 1"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } hparams { warmup_fraction: 0.9 }",
       "hparams.warmup_fraction"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } base_overrides: \"train.seq_len=0\"",
       "base.train.seq_len"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } base_overrides: \"train.sq=1\"",
       "base_overrides[0]"},
      {"budgets: [1e12] family { dephts: [1] }", "family"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } "
       "metric { kind: BITS_PER_BYTE tokenizer: \"t.json\" bytes_per_token: 3 }",
       "metric.bytes_per_token: set it or metric.tokenizer"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } metric { tokenizer: \"t.json\" }",
       "metric.tokenizer: only used with metric.kind BITS_PER_BYTE"},
      {"budgets: [1e12] family { depths: [1, 2, 3] } "
       "metric { kind: BITS_PER_BYTE tokenizer: \"missing_tokenizer.json\" }",
       "metric.tokenizer"},
  };
  for (const Case& c : cases) {
    auto s = Parse(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.status().message().find(c.field), std::string::npos)
        << c.text << "\n-> " << s.status().message();
  }
  auto both = ParseSweepText(std::string(kBase) + "base_config: \"x.pbtxt\" budgets: [1]",
                             "s.pbtxt", ".");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("base_config"), std::string::npos);
}

TEST(FamilyTest, KeepsRatios) {
  auto s = Parse("budgets: [1e12] family { depths: [1, 2, 3] }");
  ASSERT_TRUE(s.ok()) << s.status();
  // Depth 6: width 32 * 6 = 192 = 6 heads of 32; ranks scale by 192/128.
  auto m = FamilyModel(s->base.model(), s->config.family(), 6);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->hidden_size(), 192);
  EXPECT_EQ(m->num_attention_heads(), 6);
  EXPECT_EQ(m->kv_lora_rank(), 96);
  EXPECT_EQ(m->intermediate_size(), 576);
  EXPECT_EQ(m->moe_intermediate_size(), 96);
  EXPECT_EQ(m->qk_nope_head_dim(), 16);
  EXPECT_EQ(m->n_routed_experts(), 8);
  EXPECT_EQ(m->first_k_dense_replace(), 2);  // round(1 * 6 / 4)
  s->config.mutable_family()->set_scale_expert_count(true);
  m = FamilyModel(s->base.model(), s->config.family(), 6);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->n_routed_experts(), 12);
}

TEST(PlanTest, DeepSeekLlmArithmetic) {
  auto s = Parse("budgets: [1e12] family { depths: [2, 4] }");
  ASSERT_TRUE(s.ok()) << s.status();
  auto points = MakePlan(*s);
  ASSERT_TRUE(points.ok()) << points.status();
  ASSERT_EQ(points->size(), 2u);
  const SweepPoint& p = (*points)[0];
  EXPECT_EQ(p.name, "c1e12_d2");
  // Depth 2: width 64, 2 heads, kv rank 32, MLP 192, experts 32 wide.
  // MLA 64*48 + 64*40 + 32*64 + 32*64 = 9728; block 0 + 3*64*192 = 46592;
  // block 1: 9728 + 512 + 6144 + 2*6144 = 28672; attention 6*128*2*40 = 61440.
  EXPECT_DOUBLE_EQ(p.scale.m, 6.0 * (46592 + 28672) + 2 * 61440.0);  // 574464
  // B = 0.2920 * 1e12^0.3271 = 0.2920 * 10^3.9252 = 2458.0 tokens -> 19
  // sequences of 128.
  EXPECT_NEAR(p.batch_tokens_target, 2458.0, 0.1);
  EXPECT_EQ(p.batch_seqs, 19);
  // steps = round(1e12 / 574464 / 2432) = round(715.8).
  EXPECT_EQ(p.steps, 716);
  EXPECT_EQ(p.tokens, 716 * 19 * 128);
  EXPECT_NEAR(p.lr, 0.3118 * std::pow(1e12, -0.125), 1e-12);  // 0.0098600
  EXPECT_EQ(p.micro_batch, 1);  // 19 is prime; the base's micro-batch is 16
  const auto& r = p.run;
  EXPECT_EQ(r.train().steps(), 716);
  EXPECT_EQ(r.train().global_batch_size(), 19);
  EXPECT_DOUBLE_EQ(r.optimizer().lr(), p.lr);
  EXPECT_EQ(r.schedule().type(), config::ScheduleConfig::MULTISTEP);
  EXPECT_EQ(r.schedule().warmup_steps(), 36);  // ceil(0.05 * 716)
  EXPECT_EQ(r.train().eval_every(), 716);
  EXPECT_EQ(r.train().save_every(), 71);
  // Time: M * D / (4 GFLOP/s * 1 thread).
  EXPECT_NEAR(p.est_seconds, 574464.0 * 716 * 19 * 128 / 4e9, 1e-6);
}

TEST(PlanTest, FixedAndGrid) {
  auto s = Parse(
      "budgets: [1e12] family { depths: [1, 2, 3] } "
      "hparams { rule: GRID grid_batch_tokens: [1024, 4096] grid_lr: [1e-3, 3e-3] }");
  ASSERT_TRUE(s.ok()) << s.status();
  auto points = MakePlan(*s);
  ASSERT_TRUE(points.ok()) << points.status();
  ASSERT_EQ(points->size(), 12u);
  EXPECT_EQ((*points)[0].name, "c1e12_d1_b1.02e3_lr0.001");
  EXPECT_EQ((*points)[0].batch_seqs, 8);
  EXPECT_EQ((*points)[3].batch_seqs, 32);
  EXPECT_DOUBLE_EQ((*points)[3].lr, 3e-3);
  // A micro-batch of at most 16 that divides 32.
  EXPECT_EQ((*points)[3].micro_batch, 16);
}

TEST(PlanTest, ImpossiblePointNamesIt) {
  // 1e9 FLOPs buy 13287 tokens (3 steps) of the depth-1 model (M = 75264)
  // but only 599 of the depth-3 one (M = 1668096): less than one step.
  auto s = Parse("budgets: [1e9] family { depths: [1, 3] } hparams { rule: FIXED batch_tokens: 4096 lr: 1e-3 }");
  ASSERT_TRUE(s.ok()) << s.status();
  auto points = MakePlan(*s);
  ASSERT_FALSE(points.ok());
  EXPECT_NE(points.status().message().find("point c1e9_d3: steps < 1"), std::string::npos)
      << points.status();
  // A base the run config validation rejects names the base's field.
  auto long_seq = Parse("budgets: [1e12] family { depths: [1, 2] } base_overrides: "
                        "\"model.max_position_embeddings=64\"");
  ASSERT_FALSE(long_seq.ok());
  EXPECT_NE(long_seq.status().message().find("base.train.seq_len"), std::string::npos)
      << long_seq.status();
}

TEST(PlanTest, PointNamesAreUnique) {
  auto s = Parse("budgets: [1e12] family { depths: [1, 2, 3] } "
                 "hparams { rule: GRID grid_batch_tokens: [1024, 1025] grid_lr: [1e-3] }");
  ASSERT_TRUE(s.ok()) << s.status();
  auto points = MakePlan(*s);
  ASSERT_FALSE(points.ok());
  EXPECT_NE(points.status().message().find("point c1e12_d1_b1.02e3_lr0.001: two points"),
            std::string::npos)
      << points.status();
}

TEST(PlanTest, SpreadDepths) {
  FamilyRule r;
  r.set_min_depth(2);
  r.set_max_depth(10);
  r.set_sizes_per_budget(5);
  EXPECT_EQ(FamilyDepths(r), (std::vector<int64_t>{2, 4, 6, 8, 10}));
}

}  // namespace
}  // namespace hs::sweep
