// File: models/decode/latent_kv_cache.cc — see latent_kv_cache.h.
#include "models/decode/latent_kv_cache.h"

namespace hs::models::decode {

int64_t LatentCacheBytesPerToken(const DeepseekV2Config& c) {
  return c.num_hidden_layers * (c.kv_lora_rank + c.qk_rope_head_dim) * int64_t(sizeof(float));
}

int64_t FullKvCacheBytesPerToken(const DeepseekV2Config& c) {
  return c.num_hidden_layers * c.num_attention_heads * (c.q_head_dim() + c.v_head_dim) *
         int64_t(sizeof(float));
}

LatentKvCache::LatentKvCache(int64_t layers, int64_t slots, int64_t capacity,
                             int64_t kv_lora_rank, int64_t rope_dim)
    : layers_(layers),
      slots_(slots),
      capacity_(capacity),
      width_(kv_lora_rank + rope_dim),
      L_(kv_lora_rank),
      data_(Tensor::Uninitialized({layers, slots, capacity, kv_lora_rank + rope_dim})),
      length_(slots, 0) {}

}  // namespace hs::models::decode
