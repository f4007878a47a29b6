// File: models/decode/test_util.h — tiny models and token sequences for the
// decode tests.
#ifndef MODELS_DECODE_TEST_UTIL_H_
#define MODELS_DECODE_TEST_UTIL_H_

#include <cstdint>
#include <vector>

#include "haiscale/rng.h"
#include "models/model_config.h"

namespace hs::models::decode {

// TinyDenseConfig: 2 dense layers, 3 heads, no q_lora (plain q_proj),
// nope != v head dims so a mix-up of the two shows.
inline DeepseekV2Config TinyDenseConfig() {
  DeepseekV2Config c;
  c.vocab_size = 41;
  c.hidden_size = 24;
  c.intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 3;
  c.kv_lora_rank = 12;
  c.q_lora_rank = 0;
  c.qk_nope_head_dim = 8;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 6;
  c.initializer_range = 0.2;
  c.max_position_embeddings = 64;
  return c;
}

// TinyMoeConfig: TinyDenseConfig with q_lora and `layers` layers, the first
// dense and the rest DeepSeekMoE (6 routed experts, 2 per token, 1 shared).
inline DeepseekV2Config TinyMoeConfig(int64_t layers) {
  DeepseekV2Config c = TinyDenseConfig();
  c.num_hidden_layers = layers;
  c.q_lora_rank = 10;
  c.moe_intermediate_size = 8;
  c.n_shared_experts = 1;
  c.n_routed_experts = 6;
  c.num_experts_per_tok = 2;
  c.first_k_dense_replace = 1;
  c.norm_topk_prob = true;
  return c;
}

// RandomTokens: n ids in [0, vocab) from (seed, stream).
inline std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, uint64_t seed,
                                         uint64_t stream = 0) {
  Philox rng(seed, stream);
  std::vector<int32_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = int32_t(rng.Uint64Below(i, vocab));
  return t;
}

}  // namespace hs::models::decode

#endif  // MODELS_DECODE_TEST_UTIL_H_
