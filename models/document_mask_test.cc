// File: models/document_mask_test.cc
//
// Document-aware packing through the whole model (MLA with decoupled RoPE,
// dense and MoE blocks): one packed row with per-document positions and
// the cross-document target ignored gives each document's logits, the
// summed cross-entropy and the parameter gradients of those documents run
// one by one; bad positions are refused with the offending index.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/rng.h"
#include "models/deepseek_v2.h"

namespace hs::models {
namespace {

DeepseekV2Config TinyConfig() {
  DeepseekV2Config c;
  c.vocab_size = 41;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.moe_intermediate_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.n_shared_experts = 1;
  c.n_routed_experts = 4;
  c.num_experts_per_tok = 2;
  c.first_k_dense_replace = 1;
  c.moe_layer_freq = 1;
  c.kv_lora_rank = 8;
  c.qk_nope_head_dim = 4;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 4;
  c.initializer_range = 0.3;
  c.max_position_embeddings = 128;
  return c;
}

TEST(DocumentMask, PackedRowEqualsDocumentsOneByOne) {
  const DeepseekV2Config c = TinyConfig();
  auto created = DeepseekV2Model::Create(c, {.seed = 3});
  ASSERT_TRUE(created.ok()) << created.status();
  DeepseekV2Model& model = **created;
  const int64_t V = c.vocab_size, P = model.arena().size();
  // Three documents (lengths 9, 1 and 20 tokens), inputs and next-token
  // targets; the last input's target of a document is the next document's
  // first token in the packed row, and is ignored (-1).
  const std::vector<int64_t> lengths = {9, 1, 20};
  Philox rng(5, 0);
  std::vector<std::vector<int32_t>> docs;
  int64_t T = 0, draw = 0;
  for (int64_t n : lengths) {
    std::vector<int32_t> d;
    for (int64_t i = 0; i < n + 1; ++i) d.push_back(int32_t(rng.Uint64Below(draw++, V)));
    docs.push_back(d);
    T += n;
  }
  std::vector<int32_t> tokens, targets, positions;
  for (const auto& d : docs) {
    const int64_t n = int64_t(d.size()) - 1;
    for (int64_t i = 0; i < n; ++i) {
      tokens.push_back(d[i]);
      targets.push_back(i + 1 < n ? d[i + 1] : -1);
      positions.push_back(int32_t(i));
    }
  }
  model.arena().ZeroGrads();
  auto packed = model.Forward(tokens.data(), targets.data(), 1, T, positions.data());
  ASSERT_TRUE(packed.ok()) << packed.status();
  const std::vector<float> packed_logits(model.logits().data<float>(),
                                         model.logits().data<float>() + T * V);
  ASSERT_TRUE(model.Backward(1.0f, 0.0f).ok());
  const std::vector<float> packed_grads(model.arena().grads(), model.arena().grads() + P);

  model.arena().ZeroGrads();
  double ce = 0;
  int64_t valid = 0, t0 = 0;
  for (const auto& d : docs) {
    const int64_t n = int64_t(d.size()) - 1;
    std::vector<int32_t> in(d.begin(), d.begin() + n), tg;
    for (int64_t i = 0; i < n; ++i) tg.push_back(i + 1 < n ? d[i + 1] : -1);
    auto alone = model.Forward(in.data(), tg.data(), 1, n);
    ASSERT_TRUE(alone.ok()) << alone.status();
    ce += alone->ce_sum;
    valid += alone->valid_tokens;
    const float* lg = model.logits().data<float>();
    for (int64_t i = 0; i < n * V; ++i) {
      ASSERT_NEAR(packed_logits[t0 * V + i], lg[i], 1e-5) << "document at " << t0 << " logit " << i;
    }
    ASSERT_TRUE(model.Backward(1.0f, 0.0f).ok());  // gradients add up over the documents
    t0 += n;
  }
  EXPECT_EQ(packed->valid_tokens, valid);
  EXPECT_NEAR(packed->ce_sum, ce, 1e-4 * std::fabs(ce));
  const float* g = model.arena().grads();
  double max_err = 0, max_abs = 0;
  for (int64_t i = 0; i < P; ++i) {
    max_err = std::max(max_err, double(std::fabs(packed_grads[i] - g[i])));
    max_abs = std::max(max_abs, double(std::fabs(g[i])));
  }
  EXPECT_GT(max_abs, 1e-3);
  EXPECT_LT(max_err, 1e-5 + 1e-4 * max_abs) << "largest gradient " << max_abs;

  // Without positions the packed row is one sequence: different logits.
  auto plain = model.Forward(tokens.data(), targets.data(), 1, T);
  ASSERT_TRUE(plain.ok());
  EXPECT_GT(std::fabs(plain->ce_sum - packed->ce_sum), 1e-4);
}

TEST(DocumentMask, BadPositionsAreRefused) {
  auto created = DeepseekV2Model::Create(TinyConfig(), {.seed = 3});
  ASSERT_TRUE(created.ok());
  std::vector<int32_t> tokens(8, 1), targets(8, 2), positions = {0, 1, 2, 0, 0, 5, 0, 1};
  auto r = (*created)->Forward(tokens.data(), targets.data(), 2, 4, positions.data());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("position[1, 1] = 5"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace hs::models
