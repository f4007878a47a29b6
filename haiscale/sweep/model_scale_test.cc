// File: haiscale/sweep/model_scale_test.cc — M and N against hand counts.
#include "haiscale/sweep/model_scale.h"

#include "gtest/gtest.h"
#include "haiscale/config/config.h"

namespace hs::sweep {
namespace {

config::ModelConfig Mla(int64_t d, int64_t layers, int64_t heads) {
  config::ModelConfig m;
  m.set_vocab_size(256);
  m.set_hidden_size(d);
  m.set_num_hidden_layers(layers);
  m.set_num_attention_heads(heads);
  m.set_kv_lora_rank(d / 2);
  m.set_qk_nope_head_dim(16);
  m.set_qk_rope_head_dim(8);
  m.set_v_head_dim(16);
  config::FillModelDefaults(&m);
  return m;
}

TEST(ModelScaleTest, DenseMlaByHand) {
  config::ModelConfig m = Mla(64, 2, 4);
  m.set_intermediate_size(128);
  const ModelScale s = ComputeModelScale(m, 64);
  // Per block: q_proj 64*4*24 = 6144, kv_a 64*(32+8) = 2560,
  // kv_b 32*4*(16+16) = 4096, o_proj 4*16*64 = 4096, MLP 3*64*128 = 24576:
  // 41472; two blocks 82944. Attention 6*64*4*(24+16) = 61440 per block.
  EXPECT_EQ(s.n_nonembedding_activated, 82944);
  EXPECT_DOUBLE_EQ(s.m, 6.0 * 82944 + 2 * 61440.0);  // 620544
  // Norms: (kv_a_layernorm 32 + 2*64) per block + final 64; embeddings 2*256*64.
  EXPECT_EQ(s.n_embedding, 32768);
  EXPECT_EQ(s.n_total, 82944 + 2 * 160 + 64 + 32768);
  EXPECT_EQ(s.n_activated, s.n_total);
}

TEST(ModelScaleTest, QuickstartMoeByHand) {
  // configs/quickstart.pbtxt's model: block 0 dense, blocks 1-3 MoE with 8
  // routed experts (top-2) and 1 shared expert of width 64.
  config::ModelConfig m = Mla(128, 4, 4);
  m.set_intermediate_size(384);
  m.set_moe_intermediate_size(64);
  m.set_n_routed_experts(8);
  m.set_num_experts_per_tok(2);
  m.set_n_shared_experts(1);
  m.set_first_k_dense_replace(1);
  const ModelScale s = ComputeModelScale(m, 128);
  // MLA per block: q 128*4*24 = 12288, kv_a 128*72 = 9216, kv_b 64*4*32 =
  // 8192, o 64*128 = 8192: 37888. Block 0 + MLP 3*128*384 = 147456.
  // MoE block activated: router 128*8 = 1024, shared 24576, 2 experts of
  // 3*128*64 = 24576: 37888 + 1024 + 24576 + 49152 = 112640.
  EXPECT_EQ(s.n_nonembedding_activated, 185344 + 3 * 112640);  // 523264
  EXPECT_DOUBLE_EQ(s.m, 6.0 * 523264 + 4 * 6.0 * 128 * 4 * 40);  // 3631104
  // Total: MoE block holds all 8 experts: 37888 + 1024 + 24576 + 8*24576.
  EXPECT_EQ(s.n_total, 185344 + 3 * 260096 + 4 * (64 + 256) + 128 + 65536);  // 1032576
  EXPECT_EQ(s.n_activated, 523264 + 4 * (64 + 256) + 128 + 65536);
}

TEST(ModelScaleTest, QueryCompressionCountsBothProjections) {
  config::ModelConfig m = Mla(64, 1, 4);
  m.set_intermediate_size(128);
  const double without = ComputeModelScale(m, 64).m;
  m.set_q_lora_rank(16);
  // q_proj 64*96 replaced by q_a 64*16 + q_b 16*96.
  EXPECT_DOUBLE_EQ(ComputeModelScale(m, 64).m - without, 6.0 * (64 * 16 + 16 * 96 - 64 * 96));
}

TEST(ModelScaleTest, DenseFormula) {
  // 72 * 2 * 64^2 + 12 * 2 * 64 * 64 = 589824 + 98304.
  EXPECT_DOUBLE_EQ(DenseModelScale(2, 64, 64), 688128.0);
  // DeepSeek LLM 7B-like shape: 30 layers, 4096 wide, 4096 tokens.
  EXPECT_DOUBLE_EQ(DenseModelScale(30, 4096, 4096), 72.0 * 30 * 4096 * 4096 + 12.0 * 30 * 4096 * 4096);
}

}  // namespace
}  // namespace hs::sweep
