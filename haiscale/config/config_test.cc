// File: haiscale/config/config_test.cc
//
// Tests for text loading, defaults, --set overrides and validation
// (haiscale/config/config.h).
#include "haiscale/config/config.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "haiscale/io/atomic_file.h"
#include "hfreduce/hfreduce.h"

namespace hs::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A small valid config used as the base of most tests.
constexpr char kGood[] = R"pb(
  model {
    vocab_size: 256
    hidden_size: 64
    intermediate_size: 128
    moe_intermediate_size: 32
    num_hidden_layers: 3
    num_attention_heads: 4
    kv_lora_rank: 32
    qk_nope_head_dim: 16
    qk_rope_head_dim: 8
    v_head_dim: 16
    first_k_dense_replace: 1
    n_routed_experts: 8
    num_experts_per_tok: 2
    n_shared_experts: 1
    max_position_embeddings: 256
  }
  train { steps: 10 global_batch_size: 8 micro_batch_size: 4 seq_len: 64 }
  optimizer { type: ADAMW lr: 3e-3 }
  schedule { type: WARMUP_COSINE warmup_steps: 2 }
  data { train_path: "data/x.bin" }
)pb";

RunConfig Good() {
  absl::StatusOr<RunConfig> config = ParseConfigText(kGood, "good.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// ValidateConfig's message after applying `overrides` to Good().
std::string ErrorAfter(const std::vector<std::string>& overrides) {
  RunConfig config = Good();
  absl::Status status = ApplyOverrides(&config, overrides);
  if (!status.ok()) return "override failed: " + std::string(status.message());
  status = ValidateConfig(config);
  return status.ok() ? "" : std::string(status.message());
}

TEST(LoadConfigTest, GoodConfigParsesAndValidates) {
  RunConfig config = Good();
  EXPECT_EQ(config.model().hidden_size(), 64);
  EXPECT_EQ(config.train().steps(), 10);
  EXPECT_EQ(config.schedule().type(), ScheduleConfig::WARMUP_COSINE);
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
}

TEST(LoadConfigTest, MixtureAndDocumentMaskValidate) {
  EXPECT_EQ(ErrorAfter({"data.train_path=",
                        "data={mixture {path: \"a\" weight: 3} mixture {path: \"b\" "
                        "weight: 0.5} document_mask: true}"}),
            "");
  RunConfig config = Good();
  ASSERT_TRUE(ApplyOverrides(&config, {"data.train_path=", "data={mixture {path: \"a\" "
                                       "weight: 3}}", "data.document_mask=true"})
                  .ok());
  EXPECT_EQ(config.data().mixture_size(), 1);
  EXPECT_TRUE(config.data().document_mask());
}

TEST(LoadConfigTest, FillsHfDefaults) {
  RunConfig config = Good();
  const ModelConfig& m = config.model();
  EXPECT_FALSE(m.has_q_lora_rank());  // absent = null = plain q_proj
  EXPECT_FALSE(m.has_rope_scaling());
  EXPECT_FALSE(m.has_pad_token_id());
  EXPECT_EQ(m.num_key_value_heads(), 4);  // follows num_attention_heads
  EXPECT_EQ(m.topk_method(), "greedy");
  EXPECT_EQ(m.scoring_func(), "softmax");
  EXPECT_EQ(m.hidden_act(), "silu");
  EXPECT_EQ(m.moe_layer_freq(), 1);
  EXPECT_DOUBLE_EQ(m.aux_loss_alpha(), 0.001);
  EXPECT_TRUE(m.seq_aux());
  EXPECT_DOUBLE_EQ(m.rms_norm_eps(), 1e-6);
  EXPECT_DOUBLE_EQ(m.rope_theta(), 10000.0);
  EXPECT_EQ(m.bos_token_id(), 100000);
  EXPECT_EQ(m.eos_token_id(), 100001);
  EXPECT_FALSE(m.tie_word_embeddings());
  EXPECT_DOUBLE_EQ(config.optimizer().beta1(), 0.9);
  EXPECT_DOUBLE_EQ(config.optimizer().beta2(), 0.95);
  EXPECT_DOUBLE_EQ(config.optimizer().eps(), 1e-8);
  EXPECT_DOUBLE_EQ(config.optimizer().weight_decay(), 0.1);
  EXPECT_DOUBLE_EQ(config.optimizer().grad_clip(), 1.0);
  EXPECT_DOUBLE_EQ(config.schedule().min_lr_ratio(), 0.1);
  EXPECT_THAT(config.schedule().milestones(), testing::ElementsAre(0.8, 0.9));
  EXPECT_THAT(config.schedule().factors(), testing::ElementsAre(0.316, 0.1));
  EXPECT_DOUBLE_EQ(config.parallel().bucket_mb(), 25.0);
  EXPECT_EQ(config.parallel().comm_priority(), 10);
  EXPECT_EQ(config.parallel().comm_slice_us(), 100);
  // HFReduce tuning: hfreduce::Options' defaults, in KiB.
  const hfreduce::Options hf;
  EXPECT_EQ(config.parallel().hfreduce_chunk_kb() << 10, hf.chunk_bytes);
  EXPECT_EQ(config.parallel().hfreduce_min_chunk_kb() << 10, hf.min_chunk_bytes);
  EXPECT_EQ(config.parallel().hfreduce_pipeline_depth(), hf.pipeline_depth);
  EXPECT_EQ(config.parallel().hfreduce_tree_chunk_kb() << 10, hf.tree_chunk_bytes);
  EXPECT_EQ(config.parallel().hfreduce_tree_window(), hf.tree_window);
  EXPECT_EQ(config.parallel().hfreduce_pair_exchange_kb() << 10, hf.pair_exchange_bytes);
  EXPECT_EQ(config.train().log_every(), 1);
  EXPECT_EQ(config.train().output_dir(), "runs/default");
}

TEST(LoadConfigTest, DefaultsKeepExplicitValues) {
  absl::StatusOr<RunConfig> config = ParseConfigText(
      "model { num_attention_heads: 8 num_key_value_heads: 8 "
      "topk_method: \"group_limited_greedy\" seq_aux: false "
      "rope_scaling { type: \"yarn\" factor: 40 "
      "original_max_position_embeddings: 4096 mscale_all_dim: 0.707 } }",
      "x.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model().topk_method(), "group_limited_greedy");
  EXPECT_FALSE(config->model().seq_aux());
  EXPECT_DOUBLE_EQ(config->model().rope_scaling().beta_fast(), 32.0);
  EXPECT_DOUBLE_EQ(config->model().rope_scaling().beta_slow(), 1.0);
  EXPECT_DOUBLE_EQ(config->model().rope_scaling().mscale(), 1.0);
  EXPECT_DOUBLE_EQ(config->model().rope_scaling().mscale_all_dim(), 0.707);
}

TEST(LoadConfigTest, UnknownFieldNamesFileLineColumnAndField) {
  absl::StatusOr<RunConfig> config =
      ParseConfigText("train {\n  steps: 3\n  stpes: 4\n}\n", "bad.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("bad.pbtxt:3:8: train.stpes: "));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("stpes"));
}

TEST(LoadConfigTest, BadEnumValueNamesField) {
  absl::StatusOr<RunConfig> config = ParseConfigText(
      "# comment { with braces\nmodel { vocab_size: 3 }\noptimizer {\n"
      "  lr: 1e-3  # peak\n  type: LAMB\n}\n",
      "e.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("e.pbtxt:6:1: optimizer.type: "));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("LAMB"));
}

TEST(LoadConfigTest, WrongTypeNamesField) {
  absl::StatusOr<RunConfig> config =
      ParseConfigText("model {\n  hidden_size: \"big\"\n}\n", "t.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("t.pbtxt:2:16: model.hidden_size: "));
}

TEST(LoadConfigTest, MissingFileNamesPath) {
  absl::StatusOr<RunConfig> config = LoadConfig("/nonexistent/run.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("/nonexistent/run.pbtxt"));
}

TEST(LoadConfigTest, LoadsFromFileAndConfigToTextRoundTrips) {
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                                     : "/tmp";
  const std::string path = dir + "/run.pbtxt";
  ASSERT_TRUE(hs::io::WriteFileAtomically(path, kGood).ok());
  absl::StatusOr<RunConfig> loaded = LoadConfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string text = ConfigToText(*loaded);
  EXPECT_THAT(text, HasSubstr("hidden_size: 64"));
  absl::StatusOr<RunConfig> again = ParseConfigText(text, "copy.pbtxt");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->DebugString(), loaded->DebugString());
}

TEST(OverrideTest, ScalarsEnumsNestedAndRepeated) {
  RunConfig config = Good();
  ASSERT_TRUE(ApplyOverride(&config, "train.steps=10").ok());
  ASSERT_TRUE(ApplyOverride(&config, "optimizer.type=SGD").ok());
  ASSERT_TRUE(ApplyOverride(&config, "optimizer.lr = 1e-2").ok());
  ASSERT_TRUE(ApplyOverride(&config, "model.rope_scaling.factor=40").ok());
  ASSERT_TRUE(ApplyOverride(&config, "model.norm_topk_prob=true").ok());
  ASSERT_TRUE(ApplyOverride(&config, "train.output_dir=\"runs/a b\"").ok());
  ASSERT_TRUE(ApplyOverride(&config, "data.eval_path=data/e.bin").ok());
  ASSERT_TRUE(ApplyOverride(&config, "train.recompute_layers=[0, 2]").ok());
  ASSERT_TRUE(ApplyOverride(&config, "schedule.milestones=[0.5,0.75]").ok());
  ASSERT_TRUE(ApplyOverride(&config, "train.seed=7").ok());
  ASSERT_TRUE(ApplyOverride(&config, "model.q_lora_rank=24").ok());
  EXPECT_EQ(config.train().steps(), 10);
  EXPECT_EQ(config.optimizer().type(), OptimizerConfig::SGD);
  EXPECT_DOUBLE_EQ(config.optimizer().lr(), 1e-2);
  EXPECT_DOUBLE_EQ(config.model().rope_scaling().factor(), 40);
  EXPECT_TRUE(config.model().norm_topk_prob());
  EXPECT_EQ(config.train().output_dir(), "runs/a b");
  EXPECT_EQ(config.data().eval_path(), "data/e.bin");
  EXPECT_THAT(config.train().recompute_layers(), testing::ElementsAre(0, 2));
  EXPECT_THAT(config.schedule().milestones(), testing::ElementsAre(0.5, 0.75));
  EXPECT_EQ(config.train().seed(), 7u);
  EXPECT_TRUE(config.model().has_q_lora_rank());
  EXPECT_EQ(config.model().q_lora_rank(), 24);
  ASSERT_TRUE(ApplyOverride(&config, "train.recompute_layers=[]").ok());
  EXPECT_EQ(config.train().recompute_layers_size(), 0);
}

TEST(OverrideTest, WholeMessageInTextFormat) {
  RunConfig config = Good();
  ASSERT_TRUE(ApplyOverride(&config,
                            "model.rope_scaling={type: \"yarn\" factor: 4 "
                            "original_max_position_embeddings: 64}")
                  .ok());
  EXPECT_EQ(config.model().rope_scaling().type(), "yarn");
  EXPECT_DOUBLE_EQ(config.model().rope_scaling().beta_fast(), 32.0);
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
}

TEST(OverrideTest, ErrorsNameThePath) {
  RunConfig config = Good();
  auto message = [&](const std::string& assignment) {
    return std::string(ApplyOverride(&config, assignment).message());
  };
  EXPECT_THAT(message("train.stpes=10"), HasSubstr("unknown field 'train.stpes'"));
  EXPECT_THAT(message("trian.steps=10"), HasSubstr("unknown field 'trian.steps'"));
  EXPECT_THAT(message("train.steps=x"),
              HasSubstr("train.steps: expected an integer, got 'x'"));
  EXPECT_THAT(message("train.steps"), HasSubstr("expected section.field=value"));
  EXPECT_THAT(message("optimizer.lr=fast"),
              HasSubstr("optimizer.lr: expected a number, got 'fast'"));
  EXPECT_THAT(message("optimizer.type=LAMB"),
              HasSubstr("optimizer.type: expected one of ADAMW, SGD"));
  EXPECT_THAT(message("data.shuffle=maybe"),
              HasSubstr("data.shuffle: expected true or false"));
  EXPECT_THAT(message("train.seed=-1"),
              HasSubstr("train.seed: expected a non-negative integer"));
  EXPECT_THAT(message("train.recompute_layers=1"),
              HasSubstr("train.recompute_layers: repeated field expects a list"));
  EXPECT_THAT(message("train.steps.x=1"), HasSubstr("unknown field 'train.steps.x'"));
  EXPECT_THAT(message("model.rope_scaling={typo: 1}"),
              HasSubstr("model.rope_scaling: cannot parse"));
  // A failed list override leaves the field unchanged.
  ASSERT_TRUE(ApplyOverride(&config, "train.recompute_layers=[1]").ok());
  EXPECT_FALSE(ApplyOverride(&config, "train.recompute_layers=[0,x]").ok());
  EXPECT_THAT(config.train().recompute_layers(), testing::ElementsAre(1));
}

// Each impossible value is rejected with the field's name.
struct BadCase {
  std::vector<std::string> overrides;
  std::string expected;  // substring of the error
};

class BadConfigTest : public testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, RejectedWithFieldName) {
  const BadCase& c = GetParam();
  EXPECT_THAT(ErrorAfter(c.overrides), HasSubstr(c.expected));
}

INSTANTIATE_TEST_SUITE_P(
    AllCases, BadConfigTest,
    testing::Values(
        BadCase{{"model.vocab_size=0"}, "model.vocab_size: must be > 0"},
        BadCase{{"model.hidden_size=-4"}, "model.hidden_size: must be > 0"},
        BadCase{{"model.intermediate_size=0"}, "model.intermediate_size:"},
        BadCase{{"model.num_hidden_layers=0"}, "model.num_hidden_layers:"},
        BadCase{{"model.num_hidden_layers=1000000000"},
                "model.num_hidden_layers: 1000000000 exceeds the supported maximum of 10000"},
        BadCase{{"model.n_routed_experts=100000000"},
                "model.n_routed_experts: 100000000 exceeds the supported maximum of 65536"},
        BadCase{{"model.num_attention_heads=0"}, "model.num_attention_heads:"},
        BadCase{{"model.num_key_value_heads=3"},
                "model.num_key_value_heads: must divide num_attention_heads"},
        BadCase{{"model.num_key_value_heads=2"},
                "model.num_key_value_heads: must equal num_attention_heads"},
        BadCase{{"model.num_experts_per_tok=9"},
                "model.num_experts_per_tok: 9 exceeds n_routed_experts (8)"},
        BadCase{{"model.num_experts_per_tok=0"},
                "model.num_experts_per_tok: must be > 0 when n_routed_experts"},
        BadCase{{"model.n_group=3"},
                "model.n_group: must divide n_routed_experts (8)"},
        BadCase{{"model.n_group=2", "model.topk_group=3"},
                "model.topk_group: 3 exceeds n_group (2)"},
        BadCase{{"model.topk_method=group_limited_greedy"},
                "model.n_group: must be > 0 for topk_method"},
        BadCase{{"model.topk_method=group_limited_greedy", "model.n_group=4",
                 "model.topk_group=1", "model.num_experts_per_tok=3"},
                "model.num_experts_per_tok: 3 exceeds the experts in topk_group"},
        BadCase{{"model.topk_method=best"}, "model.topk_method: must be"},
        BadCase{{"model.scoring_func=sigmoid"},
                "model.scoring_func: only \"softmax\""},
        BadCase{{"model.hidden_act=gelu"}, "model.hidden_act: only \"silu\""},
        BadCase{{"model.rope_scaling.type=linear", "model.rope_scaling.factor=2",
                 "model.rope_scaling.original_max_position_embeddings=64"},
                "model.rope_scaling.type: only \"yarn\""},
        BadCase{{"model.rope_scaling.type=yarn", "model.rope_scaling.factor=0.5",
                 "model.rope_scaling.original_max_position_embeddings=64"},
                "model.rope_scaling.factor: must be >= 1"},
        BadCase{{"model.rope_scaling.type=yarn", "model.rope_scaling.factor=2"},
                "model.rope_scaling.original_max_position_embeddings: must be > 0"},
        BadCase{{"model.q_lora_rank=-1"}, "model.q_lora_rank: must be >= 0"},
        BadCase{{"model.kv_lora_rank=0"}, "model.kv_lora_rank: must be > 0"},
        BadCase{{"model.qk_rope_head_dim=7"},
                "model.qk_rope_head_dim: must be even"},
        BadCase{{"model.qk_nope_head_dim=0"}, "model.qk_nope_head_dim:"},
        BadCase{{"model.v_head_dim=0"}, "model.v_head_dim:"},
        BadCase{{"model.first_k_dense_replace=4"},
                "model.first_k_dense_replace: must be in [0, num_hidden_layers=3]"},
        BadCase{{"model.moe_layer_freq=0"},
                "model.moe_layer_freq: must be > 0 when n_routed_experts"},
        BadCase{{"model.moe_intermediate_size=0"}, "model.moe_intermediate_size:"},
        BadCase{{"model.n_routed_experts=0", "model.num_experts_per_tok=0"},
                "model.n_shared_experts: shared experts need MoE"},
        BadCase{{"model.ep_size=3"}, "model.ep_size: must divide n_routed_experts"},
        BadCase{{"model.tie_word_embeddings=true"},
                "model.tie_word_embeddings: true is unsupported: DeepSeek-V2 has "
                "an untied lm_head"},
        BadCase{{"model.attention_bias=true"}, "model.attention_bias:"},
        BadCase{{"model.attention_dropout=0.1"}, "model.attention_dropout:"},
        BadCase{{"model.pretraining_tp=2"}, "model.pretraining_tp:"},
        BadCase{{"model.rms_norm_eps=0"}, "model.rms_norm_eps: must be > 0"},
        BadCase{{"model.rope_theta=0"}, "model.rope_theta: must be > 0"},
        BadCase{{"model.aux_loss_alpha=-1"}, "model.aux_loss_alpha: must be >= 0"},
        BadCase{{"train.steps=0"}, "train.steps: must be > 0"},
        BadCase{{"train.global_batch_size=0"}, "train.global_batch_size: must be > 0"},
        BadCase{{"train.global_batch_size=10"},
                "train.global_batch_size: must be a multiple of micro_batch_size (4)"},
        BadCase{{"parallel.dp=4"},
                "train.global_batch_size: must be a multiple of micro_batch_size "
                "* parallel.dp (4 * 4)"},
        BadCase{{"train.seq_len=0"}, "train.seq_len: must be > 0"},
        BadCase{{"train.seq_len=512"},
                "train.seq_len: 512 exceeds model.max_position_embeddings (256)"},
        BadCase{{"train.log_every=0"}, "train.log_every: must be > 0"},
        BadCase{{"train.recompute_layers=[3]"},
                "train.recompute_layers: block 3 is not in [0"},
        BadCase{{"train.eval_every=5"},
                "train.eval_every: is set but data.eval_path is empty"},
        BadCase{{"data={mixture {path: \"a\" weight: 1}}"},
                "data.mixture: set either data.train_path or data.mixture, not both"},
        BadCase{{"data.train_path=", "data={mixture {path: \"\" weight: 1}}"},
                "data.mixture[0].path: is empty"},
        BadCase{{"data.train_path=", "data={mixture {path: \"a\" weight: 0}}"},
                "data.mixture[0].weight: must be finite and > 0, got 0"},
        BadCase{{"data.train_path=",
                 "data={mixture {path: \"a\" weight: 1} mixture {path: \"a\" weight: 2}}"},
                "data.mixture[1].path: 'a' is listed twice"},
        BadCase{{"data.document_mask=true", "train.device=CUDA"},
                "data.document_mask: is not supported with train.device CUDA"},
        BadCase{{"objective.dpo_beta=0"}, "objective.dpo_beta: must be finite and > 0, got 0"},
        BadCase{{"objective.dpo_label_smoothing=0.5"},
                "objective.dpo_label_smoothing: must be in [0, 0.5), got 0.5"},
        BadCase{{"objective.dpo_rpo_alpha=-0.5"},
                "objective.dpo_rpo_alpha: must be finite and >= 0, got -0.5"},
        BadCase{{"objective.dpo_rpo_alpha=inf"},
                "objective.dpo_rpo_alpha: must be finite and >= 0, got inf"},
        BadCase{{"objective.type=SFT", "data.document_mask=true"},
                "data.document_mask: is implied by objective.type SFT"},
        BadCase{{"objective.type=GRPO", "parallel.pp=2", "parallel.pp_stage_layers=[1,1]"},
                "parallel.pp: objective.type GRPO runs without pipeline parallelism yet, got 2"},
        BadCase{{"optimizer.lr=-1"}, "optimizer.lr: must be >= 0"},
        BadCase{{"optimizer.beta1=1"}, "optimizer.beta1: must be in [0, 1)"},
        BadCase{{"optimizer.beta2=-0.1"}, "optimizer.beta2: must be in [0, 1)"},
        BadCase{{"optimizer.eps=0"}, "optimizer.eps: must be > 0"},
        BadCase{{"optimizer.weight_decay=-1"}, "optimizer.weight_decay:"},
        BadCase{{"optimizer.grad_clip=-1"}, "optimizer.grad_clip:"},
        BadCase{{"optimizer.momentum=1"}, "optimizer.momentum:"},
        BadCase{{"schedule.warmup_steps=-1"},
                "schedule.warmup_steps: must be >= 0, got -1"},
        BadCase{{"schedule.min_lr_ratio=2"}, "schedule.min_lr_ratio:"},
        BadCase{{"parallel.pp=2", "parallel.pp_stage_layers=[1]"},
                "parallel.pp_stage_layers: has 1 entries for parallel.pp = 2 stages"},
        BadCase{{"parallel.pp=2", "parallel.pp_stage_layers=[1,7]"},
                "parallel.pp_stage_layers: sums to 8 but model.num_hidden_layers is"},
        BadCase{{"parallel.pp=2", "parallel.pp_stage_layers=[0,2]"},
                "parallel.pp_stage_layers: every stage needs at least one layer"},
        BadCase{{"schedule.milestones=[0.5]"},
                "schedule.factors: must have one entry per milestone (1), got 2"},
        BadCase{{"schedule.milestones=[0.9,0.8]"},
                "schedule.milestones: must be increasing"},
        BadCase{{"schedule.milestones=[0.5,1.5]"}, "schedule.milestones: entries"},
        BadCase{{"schedule.factors=[0.3,0]"}, "schedule.factors: entries must be > 0"},
        BadCase{{"parallel.dp=2", "parallel.ep=3"},
                "parallel.ep: must divide parallel.dp (2)"},
        BadCase{{"train.micro_batch_size=1", "parallel.dp=6", "parallel.ep=3"},
                "parallel.ep: must divide model.n_routed_experts (8)"},
        BadCase{{"parallel.pp=4"}, "parallel.pp: 4 stages exceed"},
        BadCase{{"parallel.zero_stage=2"}, "parallel.zero_stage: must be 0 or 1"},
        BadCase{{"parallel.bucket_mb=0"}, "parallel.bucket_mb: must be > 0"},
        BadCase{{"parallel.node_shared_params=true", "parallel.allreduce=MPI"},
                "parallel.node_shared_params: needs parallel.allreduce HFREDUCE"},
        BadCase{{"parallel.node_shared_params=true", "parallel.zero_stage=1"},
                "parallel.node_shared_params: needs parallel.zero_stage 0"},
        BadCase{{"parallel.node_shared_params=true", "parallel.hfreduce_copy_grads=true"},
                "parallel.node_shared_params: needs the gradients in HFReduce's registered memory"},
        BadCase{{"parallel.node_shared_params=true", "train.micro_batch_size=1", "parallel.dp=2",
                 "parallel.ep=2"},
                "parallel.node_shared_params: needs parallel.ep 1"},
        BadCase{{"parallel.comm_priority=21"}, "parallel.comm_priority: must be in [0, 20]"},
        BadCase{{"parallel.comm_priority=-1"}, "parallel.comm_priority: must be in [0, 20]"},
        BadCase{{"parallel.comm_slice_us=50"},
                "parallel.comm_slice_us: must be 0 or in [100, 100000]"},
        BadCase{{"parallel.comm_slice_us=200000"},
                "parallel.comm_slice_us: must be 0 or in [100, 100000]"},
        BadCase{{"parallel.hfreduce_chunk_kb=2"}, "parallel.hfreduce_chunk_kb: must be in [4,"},
        BadCase{{"parallel.hfreduce_min_chunk_kb=0"},
                "parallel.hfreduce_min_chunk_kb: must be in [4,"},
        BadCase{{"parallel.hfreduce_pipeline_depth=1"},
                "parallel.hfreduce_pipeline_depth: must be in [2, 16]"},
        BadCase{{"parallel.hfreduce_tree_chunk_kb=0"},
                "parallel.hfreduce_tree_chunk_kb: must be in [1,"},
        BadCase{{"parallel.hfreduce_tree_window=0"},
                "parallel.hfreduce_tree_window: must be in [1, 64]"},
        BadCase{{"parallel.hfreduce_pair_exchange_kb=-1"},
                "parallel.hfreduce_pair_exchange_kb: must be >= 0"},
        BadCase{{"parallel.ep_device_limit=-1"}, "parallel.ep_device_limit: must be >= 0"},
        BadCase{{"parallel.ep_device_limit=2"},
                "parallel.ep_device_limit: must be <= the routing devices "
                "(parallel.ep_routing_devices or parallel.ep = 1), got 2"},
        BadCase{{"parallel.dp=2", "parallel.ep=2", "parallel.ep_device_limit=3"},
                "parallel.ep_device_limit: must be <= the routing devices"},
        BadCase{{"parallel.ep_routing_devices=8", "parallel.ep_device_limit=1"},
                "parallel.ep_device_limit: 1 devices hold 1 experts, fewer than "
                "model.num_experts_per_tok (2)"},
        BadCase{{"parallel.ep_routing_devices=2", "parallel.ep_device_limit=1",
                 "model.topk_method=group_limited_greedy", "model.n_group=2",
                 "model.topk_group=1"},
                "parallel.ep_device_limit: cannot be combined with model.topk_method"},
        BadCase{{"parallel.ep_routing_devices=3"},
                "parallel.ep_routing_devices: must divide model.n_routed_experts (8)"},
        BadCase{{"parallel.ep_routing_devices=-2"},
                "parallel.ep_routing_devices: must be >= 0"},
        BadCase{{"parallel.device_balance_alpha=-0.1"},
                "parallel.device_balance_alpha: must be >= 0"},
        BadCase{{"parallel.comm_balance_alpha=-1"},
                "parallel.comm_balance_alpha: must be >= 0"},
        BadCase{{"parallel.capacity_factor=-1"},
                "parallel.capacity_factor: must be >= 0"},
        BadCase{{"model.n_routed_experts=0", "model.num_experts_per_tok=0",
                 "model.n_shared_experts=0", "parallel.ep_device_limit=1"},
                "parallel.ep_device_limit: device-limited routing needs MoE"}));

TEST(ValidateTest, ExpertRoutingKnobsValid) {
  // ep = 2 with M = 1 and both losses; and the same routing on one rank.
  EXPECT_EQ(ErrorAfter({"train.micro_batch_size=2", "parallel.dp=2", "parallel.ep=2",
                        "parallel.ep_device_limit=1", "parallel.device_balance_alpha=0.05",
                        "parallel.comm_balance_alpha=0.02", "parallel.capacity_factor=1.25"}),
            "");
  EXPECT_EQ(ErrorAfter({"parallel.ep_routing_devices=2", "parallel.ep_device_limit=1"}), "");
}

TEST(ValidateTest, CollectsEveryErrorOneLineEach) {
  const std::string message =
      ErrorAfter({"model.vocab_size=0", "train.steps=0", "optimizer.lr=-1"});
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= message.size()) {
    const size_t end = message.find('\n', start);
    lines.push_back(message.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ASSERT_GE(lines.size(), 3u) << message;
  EXPECT_THAT(message, HasSubstr("model.vocab_size: "));
  EXPECT_THAT(message, HasSubstr("\ntrain.steps: "));
  EXPECT_THAT(message, HasSubstr("\noptimizer.lr: "));
  for (const std::string& line : lines) {
    EXPECT_THAT(line, testing::MatchesRegex("[a-z_.]+: .+")) << line;
  }
}

TEST(ValidateTest, DenseModelWithoutExpertsIsValid) {
  EXPECT_EQ(ErrorAfter({"model.n_routed_experts=0", "model.num_experts_per_tok=0",
                        "model.n_shared_experts=0", "model.moe_layer_freq=0"}),
            "");
}

TEST(ValidateTest, GroupLimitedGreedyValid) {
  EXPECT_EQ(ErrorAfter({"model.topk_method=group_limited_greedy",
                        "model.n_group=4", "model.topk_group=2"}),
            "");
}

TEST(ValidateTest, DeepSeekV2HfSpellingOfGreedyIsAccepted) {
  EXPECT_EQ(ErrorAfter({"model.topk_method=gready"}), "");
}

TEST(ValidateTest, AbsentDefaultsCountAsDefaults) {
  // A hand-built config with only the essentials is judged with defaults.
  RunConfig config;
  ASSERT_TRUE(ApplyOverrides(&config, {"train.steps=1", "train.global_batch_size=1",
                                       "train.seq_len=16"})
                  .ok());
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
}

TEST(IsMoeLayerTest, FollowsHfRule) {
  ModelConfig m;
  m.set_n_routed_experts(8);
  m.set_first_k_dense_replace(1);
  m.set_moe_layer_freq(2);
  EXPECT_FALSE(IsMoeLayer(m, 0));
  EXPECT_FALSE(IsMoeLayer(m, 1));
  EXPECT_TRUE(IsMoeLayer(m, 2));
  EXPECT_FALSE(IsMoeLayer(m, 3));
  m.set_n_routed_experts(0);
  EXPECT_FALSE(IsMoeLayer(m, 2));
}

}  // namespace
}  // namespace hs::config
