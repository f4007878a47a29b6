// File: models/model_config.h
//
// DeepseekV2Config: the model hyper-parameters, named exactly as Hugging
// Face's DeepSeek-V2 config.json keys. models/ uses this plain struct so it
// does not depend on protobuf; haiscale/config converts its ModelConfig
// proto into it (models/config_convert.h).
#ifndef MODELS_MODEL_CONFIG_H_
#define MODELS_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "models/kernels/cpu/rope.h"

namespace hs::models {

struct DeepseekV2Config {
  int64_t vocab_size = 102400;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t moe_intermediate_size = 1407;
  int64_t num_hidden_layers = 30;
  int64_t num_attention_heads = 32;
  int64_t n_shared_experts = 0;         // 0 = none
  int64_t n_routed_experts = 0;         // 0 = dense model
  double routed_scaling_factor = 1.0;
  int64_t kv_lora_rank = 512;
  int64_t q_lora_rank = 1536;           // 0 = null: plain q_proj
  int64_t qk_rope_head_dim = 64;
  int64_t v_head_dim = 128;
  int64_t qk_nope_head_dim = 128;
  std::string topk_method = "greedy";   // or "group_limited_greedy"
  int64_t n_group = 1;
  int64_t topk_group = 1;
  int64_t num_experts_per_tok = 0;
  int64_t moe_layer_freq = 1;
  int64_t first_k_dense_replace = 0;
  bool norm_topk_prob = false;
  double aux_loss_alpha = 0.001;
  bool seq_aux = true;
  int64_t max_position_embeddings = 2048;
  double initializer_range = 0.02;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  kernels::cpu::RopeScaling rope_scaling;  // yarn=false: none

  // ---- Expert-parallel routing (DeepSeek-V2 §2.2.2-2.2.3; not HF keys:
  // they come from the run's ParallelConfig, see docs/expert_parallel.md).
  // The routed experts are split into `ep_devices` contiguous blocks of
  // E/ep_devices (block i = the experts EP rank i holds).
  int64_t ep_devices = 1;
  // Device-limited routing: each token's experts lie on at most this many
  // devices (the M devices holding its best-scoring experts). 0 = off.
  int64_t device_limit = 0;
  // Device-level balance loss coefficient (alpha_2, eq. 29-31). 0 = off.
  double device_balance_alpha = 0.0;
  // Communication balance loss coefficient (alpha_3, eq. 32-34). 0 = off.
  double comm_balance_alpha = 0.0;
  // Capacity per (this rank, expert) = ceil(capacity_factor * N*K / E)
  // slots of the rank's N tokens; later tokens beyond it are dropped.
  // 0 = no capacity (nothing dropped).
  double capacity_factor = 0.0;

  int64_t q_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }

  // IsMoeLayer(i): HF's rule — MoE when n_routed_experts > 0,
  // i >= first_k_dense_replace and i % moe_layer_freq == 0.
  bool IsMoeLayer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace &&
           layer % moe_layer_freq == 0;
  }
};

// Eps of the MLA latent norms (q_a_layernorm, kv_a_layernorm):
// deepseek-ai's modeling_deepseek.py constructs them with the RMSNorm
// default 1e-6, not config.rms_norm_eps (docs/model.md lists this).
inline constexpr float kLatentNormEps = 1e-6f;

// CheckModelConfig: the structural checks the model itself relies on
// (haiscale/config does the complete, user-facing validation).
absl::Status CheckModelConfig(const DeepseekV2Config& config);

}  // namespace hs::models

#endif  // MODELS_MODEL_CONFIG_H_
