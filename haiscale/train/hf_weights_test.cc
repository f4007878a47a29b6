// HF weights round trip (f32 exact, bf16 within rounding) and clear errors
// for missing tensors, wrong shapes and config/weights disagreement.
#include "haiscale/train/hf_weights.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/config/config.h"
#include "haiscale/io/safetensors.h"
#include "haiscale/threads.h"
#include "haiscale/config/model_config_convert.h"

namespace hs::train {
namespace {

namespace fs = std::filesystem;

config::ModelConfig TinyModel(int64_t layers) {
  auto cfg = config::ParseConfigText(R"pb(
    model {
      vocab_size: 50 hidden_size: 16 intermediate_size: 24 moe_intermediate_size: 8
      num_hidden_layers: 2 num_attention_heads: 2 kv_lora_rank: 8 q_lora_rank: 12
      qk_nope_head_dim: 4 qk_rope_head_dim: 4 v_head_dim: 4
      first_k_dense_replace: 1 n_routed_experts: 4 num_experts_per_tok: 2 n_shared_experts: 1
      max_position_embeddings: 32
    })pb", "tiny");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  cfg->mutable_model()->set_num_hidden_layers(layers);
  return cfg->model();
}

std::unique_ptr<models::DeepseekV2Model> Make(const config::ModelConfig& mc, uint64_t seed) {
  auto m = models::DeepseekV2Model::Create(config::ToModelConfig(mc), {.seed = seed, .max_seq_len = 16});
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

std::string Dir(const std::string& name) {
  fs::path p = fs::path(std::getenv("TEST_TMPDIR")) / name;
  fs::remove_all(p);
  return p.string();
}

TEST(HfWeightsTest, F32RoundTripIsExact) {
  config::ModelConfig mc = TinyModel(2);
  auto a = Make(mc, 1), b = Make(mc, 2);
  std::string dir = Dir("f32");
  ASSERT_TRUE(SaveHfWeights(*a, mc, dir, DType::kF32).ok());
  ASSERT_TRUE(fs::exists(dir + "/config.json"));
  // The config.json written is a valid HF config giving the same model.
  auto back = config::LoadModelConfigFile(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->num_hidden_layers(), 2);
  EXPECT_EQ(back->q_lora_rank(), 12);
  ASSERT_TRUE(LoadHfWeights(dir, b.get()).ok());
  ASSERT_EQ(a->arena().size(), b->arena().size());
  for (int64_t i = 0; i < a->arena().size(); ++i)
    ASSERT_EQ(a->arena().params()[i], b->arena().params()[i]) << i;
}

TEST(HfWeightsTest, Bf16RoundTripWithinRounding) {
  config::ModelConfig mc = TinyModel(2);
  auto a = Make(mc, 1), b = Make(mc, 2);
  std::string dir = Dir("bf16");
  ASSERT_TRUE(SaveHfWeights(*a, mc, dir, DType::kBF16).ok());
  auto file = io::SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->get()->Info("lm_head.weight")->dtype, io::SafetensorsDType::kBF16);
  ASSERT_TRUE(LoadHfWeights(dir, b.get()).ok());
  for (int64_t i = 0; i < a->arena().size(); ++i) {
    float x = a->arena().params()[i], y = b->arena().params()[i];
    ASSERT_LE(std::fabs(x - y), std::fabs(x) / 256 + 1e-30) << i;
  }
}

// An inference model loads a bf16 file without random initialisation, with
// the large tensors converted in several chunks on several threads, to the
// same values as a training model loading it, and scores the same.
TEST(HfWeightsTest, InferenceModelLoadsWithoutInitialising) {
  config::ModelConfig mc = TinyModel(2);
  mc.set_vocab_size(70000);  // 1.12M-element embedding: more than one chunk
  std::string dir = Dir("inference");
  ASSERT_TRUE(SaveHfWeights(*Make(mc, 3), mc, dir, DType::kBF16).ok());
  auto trained = Make(mc, 4);
  ASSERT_TRUE(LoadHfWeights(dir, trained.get()).ok());
  const int64_t before = models::ParamArena::RandomInitCount();
  SetNumThreads(3);
  auto infer = models::DeepseekV2Model::CreateForInference(
      config::ToModelConfig(mc), {.max_seq_len = 16, .params_from_file = true});
  ASSERT_TRUE(infer.ok()) << infer.status();
  absl::Status s = LoadHfWeights(dir, infer->get());
  SetNumThreads(0);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(models::ParamArena::RandomInitCount(), before);
  EXPECT_FALSE((*infer)->arena().has_grads());
  ASSERT_EQ(std::memcmp(trained->arena().params(), (*infer)->arena().params(),
                        trained->arena().padded_size() * sizeof(float)),
            0);
  std::vector<int32_t> tok(2 * 8 + 1);
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = int32_t((i * 7919) % 70000);
  auto a = trained->Forward(tok.data(), tok.data() + 1, 2, 8);
  auto b = (*infer)->Forward(tok.data(), tok.data() + 1, 2, 8);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ce_sum, b->ce_sum);
}

TEST(HfWeightsTest, ConfigAndWeightsMustAgree) {
  std::string dir = Dir("mismatch");
  config::ModelConfig two = TinyModel(2), one = TinyModel(1);
  ASSERT_TRUE(SaveHfWeights(*Make(one, 1), one, dir, DType::kF32).ok());
  // More layers than the file has: names the missing tensor.
  absl::Status s = LoadHfWeights(dir, Make(two, 1).get());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("model.layers.1."), std::string::npos) << s;
  // Fewer layers than the file has: names the extra tensors.
  std::string dir2 = Dir("mismatch2");
  ASSERT_TRUE(SaveHfWeights(*Make(two, 1), two, dir2, DType::kF32).ok());
  s = LoadHfWeights(dir2, Make(one, 1).get());
  EXPECT_NE(s.message().find("does not have"), std::string::npos) << s;
  // Different width: names the tensor and both shapes.
  config::ModelConfig wide = TinyModel(2);
  wide.set_vocab_size(51);
  s = LoadHfWeights(dir2, Make(wide, 1).get());
  EXPECT_NE(s.message().find("model.embed_tokens.weight"), std::string::npos) << s;
  EXPECT_NE(s.message().find("[50, 16]"), std::string::npos) << s;
  // No folder at all.
  EXPECT_FALSE(LoadHfWeights(Dir("absent"), Make(two, 1).get()).ok());
}

// The weights' config.json is parsed and validated, and every field that
// changes the model must equal the run config's.
TEST(HfWeightsTest, WeightsConfigMustMatchTheRunConfig) {
  config::ModelConfig mc = TinyModel(2);
  auto a = Make(mc, 1);
  const std::string dir = Dir("config_check");
  ASSERT_TRUE(SaveHfWeights(*a, mc, dir, DType::kF32).ok());
  EXPECT_TRUE(CheckHfWeightsConfig(dir, mc).ok()) << CheckHfWeightsConfig(dir, mc);

  // Fields that change the math: each mismatch named with both values.
  config::ModelConfig run = mc;
  run.set_rope_theta(20000);
  run.set_routed_scaling_factor(2.5);
  run.set_norm_topk_prob(!mc.norm_topk_prob());
  absl::Status st = CheckHfWeightsConfig(dir, run);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(st.message());
  EXPECT_NE(msg.find(dir + "/config.json disagrees"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rope_theta: the weights have 10000, the run config has 20000"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("routed_scaling_factor: the weights have 1, the run config has 2.5"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("norm_topk_prob: the weights have"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--model " + dir), std::string::npos) << msg;
  run = mc;
  run.mutable_rope_scaling()->set_type("yarn");
  st = CheckHfWeightsConfig(dir, run);
  EXPECT_NE(std::string(st.message()).find("rope_scaling: the weights have absent"),
            std::string::npos) << st;

  // Fields that do not change the function may differ.
  run = mc;
  run.set_max_position_embeddings(64);
  run.set_eos_token_id(7);
  run.set_aux_loss_alpha(0.01);
  EXPECT_TRUE(CheckHfWeightsConfig(dir, run).ok()) << CheckHfWeightsConfig(dir, run);

  // Missing, garbage, mistyped, negative and absurd config.json files.
  auto write = [&](const std::string& text) {
    std::FILE* f = std::fopen((dir + "/config.json").c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  write("{not json");
  EXPECT_NE(std::string(CheckHfWeightsConfig(dir, mc).message()).find("config.json"),
            std::string::npos);
  write("{\"model_type\": \"deepseek_v2\", \"hidden_size\": \"big\"}");
  EXPECT_NE(std::string(CheckHfWeightsConfig(dir, mc).message()).find("hidden_size"),
            std::string::npos);
  write("{\"model_type\": \"deepseek_v2\", \"vocab_size\": -5}");
  EXPECT_NE(std::string(CheckHfWeightsConfig(dir, mc).message()).find("model.vocab_size"),
            std::string::npos);
  write("{\"model_type\": \"deepseek_v2\", \"num_hidden_layers\": 1000000000}");
  EXPECT_NE(std::string(CheckHfWeightsConfig(dir, mc).message())
                .find("num_hidden_layers: 1000000000 exceeds the supported maximum"),
            std::string::npos);
  fs::remove(dir + "/config.json");
  st = CheckHfWeightsConfig(dir, mc);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(st.message()).find(dir + "/config.json: missing"), std::string::npos);
}

}  // namespace
}  // namespace hs::train
