// A model created for inference: no gradient block, forwards bit-identical
// to a training model's, no saved activations, no random initialisation
// when the weights come from elsewhere; and random initialisation that does
// not depend on the thread count.
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/rng.h"
#include "haiscale/threads.h"
#include "models/deepseek_v2.h"

namespace hs::models {
namespace {

// Small, but with tensors above the RNG's parallel threshold (the
// embedding and lm_head have 640 x 128 elements).
DeepseekV2Config SmallConfig(int64_t layers) {
  DeepseekV2Config c;
  c.vocab_size = 640;
  c.hidden_size = 128;
  c.intermediate_size = 96;
  c.moe_intermediate_size = 32;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 4;
  c.n_shared_experts = 1;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 2;
  c.first_k_dense_replace = 1;
  c.moe_layer_freq = 1;
  c.kv_lora_rank = 32;
  c.q_lora_rank = 48;
  c.qk_nope_head_dim = 16;
  c.qk_rope_head_dim = 8;
  c.v_head_dim = 16;
  c.aux_loss_alpha = 0.01;
  c.max_position_embeddings = 64;
  return c;
}

std::vector<int32_t> Tokens(int64_t n, int64_t vocab, uint64_t seed) {
  Philox rng(seed, 1);
  std::vector<int32_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = int32_t(rng.Uint64Below(i, vocab));
  return t;
}

TEST(InferenceModelTest, HasNoGradientsAndRefusesBackward) {
  auto m = DeepseekV2Model::CreateForInference(SmallConfig(2), {.seed = 3});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE((*m)->for_inference());
  EXPECT_FALSE((*m)->arena().has_grads());
  EXPECT_EQ((*m)->arena().grads(), nullptr);
  EXPECT_EQ((*m)->arena().grad(0), nullptr);
  const int64_t B = 2, T = 8;
  auto tok = Tokens(B * T + 1, 640, 5);
  ASSERT_TRUE((*m)->Forward(tok.data(), tok.data() + 1, B, T).ok());
  absl::Status s = (*m)->Backward(1.0f, 1.0f);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  // A training model has them.
  auto t = DeepseekV2Model::Create(SmallConfig(2), {.seed = 3});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE((*t)->arena().has_grads());
}

// Same seed, same tokens: the inference model's loss, aux loss and logits
// equal the training model's bit for bit (odd and even block counts, since
// the inference forward ping-pongs two residual buffers).
TEST(InferenceModelTest, ForwardIsBitIdenticalToTraining) {
  for (int64_t layers : {2, 3}) {
    auto train = DeepseekV2Model::Create(SmallConfig(layers), {.seed = 11});
    auto infer = DeepseekV2Model::CreateForInference(SmallConfig(layers), {.seed = 11});
    ASSERT_TRUE(train.ok() && infer.ok());
    ASSERT_EQ(std::memcmp((*train)->arena().params(), (*infer)->arena().params(),
                          (*train)->arena().size() * sizeof(float)),
              0);
    const int64_t B = 3, T = 7, N = B * T;
    auto tok = Tokens(N + 1, 640, 17);
    auto a = (*train)->Forward(tok.data(), tok.data() + 1, B, T);
    auto b = (*infer)->Forward(tok.data(), tok.data() + 1, B, T);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->ce_sum, b->ce_sum) << layers;
    EXPECT_EQ(a->aux_loss, b->aux_loss) << layers;
    EXPECT_EQ(a->valid_tokens, b->valid_tokens);
    EXPECT_EQ(std::memcmp((*train)->logits().data<float>(), (*infer)->logits().data<float>(),
                          N * 640 * sizeof(float)),
              0)
        << layers;
    auto la = (*train)->ForwardLogits(tok.data(), B, T);
    auto lb = (*infer)->ForwardLogits(tok.data(), B, T);
    ASSERT_TRUE(la.ok() && lb.ok());
    EXPECT_EQ(std::memcmp(la->data<float>(), lb->data<float>(), N * 640 * sizeof(float)), 0);
  }
}

// A pipeline stage without the head hands its output on; the inference
// stage's output equals the training stage's.
TEST(InferenceModelTest, StageOutputMatchesTraining) {
  for (int64_t end : {2, 3}) {
    ModelOptions o{.seed = 5, .first_layer = 0, .end_layer = end};
    auto train = DeepseekV2Model::Create(SmallConfig(4), o);
    auto infer = DeepseekV2Model::CreateForInference(SmallConfig(4), o);
    ASSERT_TRUE(train.ok() && infer.ok());
    const int64_t B = 2, T = 5;
    auto tok = Tokens(B * T, 640, 2);
    Activations at, ai;
    ASSERT_TRUE((*train)->StageForward(&at, tok.data(), nullptr, nullptr, B, T).ok());
    ASSERT_TRUE((*infer)->StageForward(&ai, tok.data(), nullptr, nullptr, B, T).ok());
    EXPECT_EQ(std::memcmp(at.output().data<float>(), ai.output().data<float>(),
                          B * T * 128 * sizeof(float)),
              0)
        << end;
  }
}

TEST(InferenceModelTest, ParamsFromFileSkipsRandomInit) {
  const int64_t before = ParamArena::RandomInitCount();
  auto m = DeepseekV2Model::CreateForInference(SmallConfig(2), {.params_from_file = true});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ParamArena::RandomInitCount(), before);
  // The alignment padding is zeroed all the same.
  const ParamArena& a = (*m)->arena();
  for (int64_t i = a.size(); i < a.padded_size(); ++i) EXPECT_EQ(a.params()[i], 0.0f);
  auto r = DeepseekV2Model::Create(SmallConfig(2), {.seed = 1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ParamArena::RandomInitCount(), before + 1);
}

TEST(InferenceModelTest, ParameterSpecsMatchCreate) {
  ModelOptions o{.first_layer = 1, .end_layer = 3};
  auto specs = DeepseekV2Model::ParameterSpecs(SmallConfig(3), o);
  auto m = DeepseekV2Model::Create(SmallConfig(3), o);
  ASSERT_TRUE(specs.ok() && m.ok());
  const auto& want = (*m)->arena().specs();
  ASSERT_EQ(specs->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*specs)[i].name, want[i].name);
    EXPECT_EQ((*specs)[i].offset, want[i].offset);
    EXPECT_EQ((*specs)[i].expert, want[i].expert);
  }
}

TEST(InferenceModelTest, RandomInitIsIndependentOfThreadCount) {
  SetNumThreads(1);
  auto one = DeepseekV2Model::Create(SmallConfig(2), {.seed = 99});
  SetNumThreads(4);
  auto four = DeepseekV2Model::Create(SmallConfig(2), {.seed = 99});
  SetNumThreads(0);
  ASSERT_TRUE(one.ok() && four.ok());
  EXPECT_EQ(std::memcmp((*one)->arena().params(), (*four)->arena().params(),
                        (*one)->arena().padded_size() * sizeof(float)),
            0);
}

}  // namespace
}  // namespace hs::models
