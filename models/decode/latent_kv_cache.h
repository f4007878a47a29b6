// File: models/decode/latent_kv_cache.h
//
// LatentKvCache: the key/value cache of MLA decoding (DeepSeek-V2 §2.1.2).
// Per layer, per sequence slot and per cached token it keeps one row of
//   [ c_kv (kv_lora_rank values, after kv_a_layernorm) | k_pe (qk_rope_head_dim
//     values, already rotated at the token's position) ]
// — 512 + 64 = 576 floats at DeepSeek-V2 sizes, shared by every head —
// instead of per-head keys and values (H * (q_head_dim + v_head_dim)).
// Each slot holds one sequence; its rows 0..length-1 are valid.
// Legend: W = kv_lora_rank + qk_rope_head_dim (the row width).
#ifndef MODELS_DECODE_LATENT_KV_CACHE_H_
#define MODELS_DECODE_LATENT_KV_CACHE_H_

#include <cstdint>
#include <vector>

#include "haiscale/tensor.h"
#include "models/model_config.h"

namespace hs::models::decode {

// KvCacheBytesPerToken: the fp32 bytes one token occupies in the cache over
// all layers: latent (this cache) and a full per-head K/V cache of the same
// model (k: H*(nope+rope), v: H*v_head_dim per layer).
int64_t LatentCacheBytesPerToken(const DeepseekV2Config& config);
int64_t FullKvCacheBytesPerToken(const DeepseekV2Config& config);

class LatentKvCache {
 public:
  LatentKvCache() = default;
  // Room for `slots` sequences of up to `capacity` tokens in each of
  // `layers` layers (allocated at once: slots * capacity * layers * W floats).
  LatentKvCache(int64_t layers, int64_t slots, int64_t capacity, int64_t kv_lora_rank,
                int64_t rope_dim);

  int64_t layers() const { return layers_; }
  int64_t slots() const { return slots_; }
  int64_t capacity() const { return capacity_; }
  int64_t width() const { return width_; }
  int64_t kv_lora_rank() const { return L_; }

  // Rows of (layer, slot): [capacity, W], row t = token t of the sequence.
  float* rows(int64_t layer, int64_t slot) {
    return data_.data<float>() + (layer * slots_ + slot) * capacity_ * width_;
  }
  const float* rows(int64_t layer, int64_t slot) const {
    return data_.data<float>() + (layer * slots_ + slot) * capacity_ * width_;
  }
  // Valid tokens of a slot (the position of its next token).
  int64_t length(int64_t slot) const { return length_[slot]; }
  void set_length(int64_t slot, int64_t n) { length_[slot] = n; }
  // Reset(slot): the slot starts a new sequence (rows are overwritten later).
  void Reset(int64_t slot) { length_[slot] = 0; }

 private:
  int64_t layers_ = 0, slots_ = 0, capacity_ = 0, width_ = 0, L_ = 0;
  Tensor data_;
  std::vector<int64_t> length_;
};

}  // namespace hs::models::decode

#endif  // MODELS_DECODE_LATENT_KV_CACHE_H_
