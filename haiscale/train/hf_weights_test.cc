// HF weights round trip (f32 exact, bf16 within rounding) and clear errors
// for missing tensors, wrong shapes and config/weights disagreement.
#include "haiscale/train/hf_weights.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "gtest/gtest.h"
#include "haiscale/config/config.h"
#include "haiscale/io/safetensors.h"
#include "haiscale/train/model_config_convert.h"

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
  auto m = models::DeepseekV2Model::Create(ToModelConfig(mc), {.seed = seed, .max_seq_len = 16});
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

}  // namespace
}  // namespace hs::train
