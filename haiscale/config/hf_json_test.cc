// File: haiscale/config/hf_json_test.cc
//
// Tests for Hugging Face config.json interop (ModelConfigFromHfJson,
// ModelConfigToHfJson, LoadModelConfigFile).
#include <cstdlib>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "haiscale/config/config.h"

namespace hs::config {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Shaped like DeepSeek-V2-Lite's config.json (values abridged), with the
// extra keys HF configs carry and a null q_lora_rank.
constexpr char kHfLite[] = R"json({
  "architectures": ["DeepseekV2ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "auto_map": {
    "AutoConfig": "configuration_deepseek.DeepseekV2Config",
    "AutoModelForCausalLM": "modeling_deepseek.DeepseekV2ForCausalLM"
  },
  "aux_loss_alpha": 0.001,
  "bos_token_id": 100000,
  "eos_token_id": 100001,
  "first_k_dense_replace": 1,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 10944,
  "kv_lora_rank": 512,
  "max_position_embeddings": 163840,
  "model_type": "deepseek_v2",
  "moe_intermediate_size": 1408,
  "moe_layer_freq": 1,
  "n_group": 1,
  "n_routed_experts": 64,
  "n_shared_experts": 2,
  "norm_topk_prob": false,
  "num_attention_heads": 16,
  "num_experts_per_tok": 6,
  "num_hidden_layers": 27,
  "num_key_value_heads": 16,
  "pretraining_tp": 1,
  "q_lora_rank": null,
  "qk_nope_head_dim": 128,
  "qk_rope_head_dim": 64,
  "rms_norm_eps": 1e-06,
  "rope_scaling": {
    "beta_fast": 32,
    "beta_slow": 1,
    "factor": 40,
    "mscale": 0.707,
    "mscale_all_dim": 0.707,
    "original_max_position_embeddings": 4096,
    "type": "yarn"
  },
  "rope_theta": 10000,
  "routed_scaling_factor": 1.0,
  "scoring_func": "softmax",
  "seq_aux": true,
  "tie_word_embeddings": false,
  "topk_group": 1,
  "topk_method": "greedy",
  "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1",
  "use_cache": true,
  "v_head_dim": 128,
  "vocab_size": 102400
})json";

TEST(HfJsonTest, ReadsHfConfigWithExtraKeysAndNullQLoraRank) {
  std::vector<std::string> ignored;
  absl::StatusOr<ModelConfig> m =
      ModelConfigFromHfJson(kHfLite, "lite/config.json", &ignored);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(ignored, UnorderedElementsAre("auto_map", "torch_dtype",
                                            "transformers_version"));
  EXPECT_FALSE(m->has_q_lora_rank());
  EXPECT_EQ(m->hidden_size(), 2048);
  EXPECT_EQ(m->num_hidden_layers(), 27);
  EXPECT_EQ(m->n_routed_experts(), 64);
  EXPECT_EQ(m->num_experts_per_tok(), 6);
  EXPECT_EQ(m->n_group(), 1);
  EXPECT_EQ(m->max_position_embeddings(), 163840);
  EXPECT_DOUBLE_EQ(m->rms_norm_eps(), 1e-6);
  EXPECT_DOUBLE_EQ(m->rope_theta(), 10000.0);  // integer in JSON, double here
  ASSERT_TRUE(m->has_rope_scaling());
  EXPECT_EQ(m->rope_scaling().type(), "yarn");
  EXPECT_DOUBLE_EQ(m->rope_scaling().factor(), 40.0);
  EXPECT_EQ(m->rope_scaling().original_max_position_embeddings(), 4096);
  EXPECT_DOUBLE_EQ(m->rope_scaling().mscale_all_dim(), 0.707);
  EXPECT_FALSE(m->has_pad_token_id());
  EXPECT_TRUE(ValidateModelConfig(*m).ok()) << ValidateModelConfig(*m);
}

TEST(HfJsonTest, RoundTripIsLossless) {
  absl::StatusOr<ModelConfig> m = ModelConfigFromHfJson(kHfLite, "lite");
  ASSERT_TRUE(m.ok()) << m.status();
  const std::string json = ModelConfigToHfJson(*m);
  std::vector<std::string> ignored;
  absl::StatusOr<ModelConfig> again =
      ModelConfigFromHfJson(json, "written", &ignored);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << json;
  EXPECT_TRUE(ignored.empty());
  EXPECT_EQ(again->DebugString(), m->DebugString());
  // And the text is stable.
  EXPECT_EQ(ModelConfigToHfJson(*again), json);
}

TEST(HfJsonTest, WritesEveryKeyArchitectureAndNulls) {
  ModelConfig m;
  m.set_hidden_size(64);
  const std::string json = ModelConfigToHfJson(m);
  EXPECT_THAT(json, HasSubstr("\"architectures\": [\n    \"DeepseekV2ForCausalLM\"\n  ]"));
  EXPECT_THAT(json, HasSubstr("\"model_type\": \"deepseek_v2\""));
  EXPECT_THAT(json, HasSubstr("\"q_lora_rank\": null"));
  EXPECT_THAT(json, HasSubstr("\"rope_scaling\": null"));
  EXPECT_THAT(json, HasSubstr("\"pad_token_id\": null"));
  EXPECT_THAT(json, HasSubstr("\"n_routed_experts\": null"));
  EXPECT_THAT(json, HasSubstr("\"hidden_size\": 64"));
  EXPECT_THAT(json, HasSubstr("\"topk_method\": \"greedy\""));
  EXPECT_THAT(json, HasSubstr("\"rope_theta\": 10000.0"));
  // Every ModelConfig field appears as a key.
  const auto* descriptor = ModelConfig::descriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    EXPECT_THAT(json, HasSubstr("\"" + descriptor->field(i)->name() + "\": "));
  }
}

TEST(HfJsonTest, PresentQLoraRankAndRopeScalingAreWritten) {
  ModelConfig m;
  m.set_q_lora_rank(96);
  m.mutable_rope_scaling()->set_type("yarn");
  m.mutable_rope_scaling()->set_factor(4);
  const std::string json = ModelConfigToHfJson(m);
  EXPECT_THAT(json, HasSubstr("\"q_lora_rank\": 96"));
  EXPECT_THAT(json, HasSubstr("\"type\": \"yarn\""));
  absl::StatusOr<ModelConfig> again = ModelConfigFromHfJson(json, "x");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->q_lora_rank(), 96);
  EXPECT_DOUBLE_EQ(again->rope_scaling().beta_fast(), 32.0);
}

TEST(HfJsonTest, AbsentKeysTakeHfDefaults) {
  absl::StatusOr<ModelConfig> m = ModelConfigFromHfJson("{}", "empty.json");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->vocab_size(), 102400);
  EXPECT_EQ(m->num_hidden_layers(), 30);
  EXPECT_EQ(m->kv_lora_rank(), 512);
  EXPECT_EQ(m->moe_intermediate_size(), 1407);
}

TEST(HfJsonTest, NewerRopeTypeKeyIsAccepted) {
  absl::StatusOr<ModelConfig> m = ModelConfigFromHfJson(
      R"({"rope_scaling": {"rope_type": "yarn", "factor": 2,
          "original_max_position_embeddings": 128}})",
      "new.json");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->rope_scaling().type(), "yarn");
}

TEST(HfJsonTest, ErrorsNameSourceAndKey) {
  auto error = [](const std::string& json) {
    absl::StatusOr<ModelConfig> m = ModelConfigFromHfJson(json, "cfg.json");
    return m.ok() ? std::string("OK") : std::string(m.status().message());
  };
  EXPECT_THAT(error(R"({"hidden_size": "big"})"),
              HasSubstr("cfg.json: hidden_size: expected an integer, got string"));
  EXPECT_THAT(error(R"({"hidden_size": 1.5})"),
              HasSubstr("cfg.json: hidden_size: expected an integer"));
  EXPECT_THAT(error(R"({"rms_norm_eps": "tiny"})"),
              HasSubstr("cfg.json: rms_norm_eps: expected a number"));
  EXPECT_THAT(error(R"({"seq_aux": 1})"),
              HasSubstr("cfg.json: seq_aux: expected true or false"));
  EXPECT_THAT(error(R"({"topk_method": 3})"),
              HasSubstr("cfg.json: topk_method: expected a string"));
  EXPECT_THAT(error(R"({"rope_scaling": {"factor": "x"}})"),
              HasSubstr("cfg.json: rope_scaling.factor: expected a number"));
  EXPECT_THAT(error(R"({"rope_scaling": 3})"),
              HasSubstr("cfg.json: rope_scaling: expected an object"));
  EXPECT_THAT(error(R"({"hidden_size": null})"),
              HasSubstr("cfg.json: hidden_size: null is not allowed"));
  EXPECT_THAT(error(R"({"model_type": "llama"})"),
              HasSubstr("cfg.json: model_type: expected \"deepseek_v2\""));
  EXPECT_THAT(error(R"({"hidden_size": 64,)"), HasSubstr("cfg.json: invalid JSON"));
  EXPECT_THAT(error("[1, 2]"), HasSubstr("cfg.json: expected a JSON object"));
}

TEST(LoadModelConfigFileTest, ReadsJsonFolderAndPbtxt) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp ? tmp : "/tmp";
  {
    FILE* f = std::fopen((dir + "/config.json").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(kHfLite, f);
    std::fclose(f);
    f = std::fopen((dir + "/run.pbtxt").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("model { hidden_size: 128 }\n", f);
    std::fclose(f);
  }
  absl::StatusOr<ModelConfig> from_json =
      LoadModelConfigFile(dir + "/config.json");
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  EXPECT_EQ(from_json->hidden_size(), 2048);
  absl::StatusOr<ModelConfig> from_dir = LoadModelConfigFile(dir);
  ASSERT_TRUE(from_dir.ok()) << from_dir.status();
  EXPECT_EQ(from_dir->hidden_size(), 2048);
  absl::StatusOr<ModelConfig> from_pbtxt = LoadModelConfigFile(dir + "/run.pbtxt");
  ASSERT_TRUE(from_pbtxt.ok()) << from_pbtxt.status();
  EXPECT_EQ(from_pbtxt->hidden_size(), 128);
  EXPECT_EQ(from_pbtxt->vocab_size(), 102400);
  absl::StatusOr<ModelConfig> missing = LoadModelConfigFile(dir + "/nope.json");
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.json"));
}

}  // namespace
}  // namespace hs::config
