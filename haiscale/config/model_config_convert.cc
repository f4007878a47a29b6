// File: haiscale/config/model_config_convert.cc — see model_config_convert.h.
#include "haiscale/config/model_config_convert.h"

#include <algorithm>
#include <cstdint>

#include "haiscale/config/config.h"

namespace hs::config {

models::DeepseekV2Config ToModelConfig(const config::ModelConfig& in) {
  config::ModelConfig p = in;
  config::FillModelDefaults(&p);
  models::DeepseekV2Config c;
  c.vocab_size = p.vocab_size();
  c.hidden_size = p.hidden_size();
  c.intermediate_size = p.intermediate_size();
  c.moe_intermediate_size = p.moe_intermediate_size();
  c.num_hidden_layers = p.num_hidden_layers();
  c.num_attention_heads = p.num_attention_heads();
  c.n_shared_experts = p.n_shared_experts();
  c.n_routed_experts = p.n_routed_experts();
  c.routed_scaling_factor = p.routed_scaling_factor();
  c.kv_lora_rank = p.kv_lora_rank();
  c.q_lora_rank = p.has_q_lora_rank() ? p.q_lora_rank() : 0;
  c.qk_rope_head_dim = p.qk_rope_head_dim();
  c.v_head_dim = p.v_head_dim();
  c.qk_nope_head_dim = p.qk_nope_head_dim();
  c.topk_method = p.topk_method();
  c.n_group = p.n_group();
  c.topk_group = p.topk_group();
  c.num_experts_per_tok = p.num_experts_per_tok();
  c.moe_layer_freq = p.moe_layer_freq();
  c.first_k_dense_replace = p.first_k_dense_replace();
  c.norm_topk_prob = p.norm_topk_prob();
  c.aux_loss_alpha = p.aux_loss_alpha();
  c.seq_aux = p.seq_aux();
  c.max_position_embeddings = p.max_position_embeddings();
  c.initializer_range = p.initializer_range();
  c.rms_norm_eps = p.rms_norm_eps();
  c.rope_theta = p.rope_theta();
  if (p.has_rope_scaling()) {
    const config::RopeScaling& rs = p.rope_scaling();
    c.rope_scaling.yarn = rs.type() == "yarn";
    c.rope_scaling.factor = rs.factor();
    c.rope_scaling.original_max_position_embeddings = rs.original_max_position_embeddings();
    c.rope_scaling.beta_fast = rs.has_beta_fast() ? rs.beta_fast() : 32.0;
    c.rope_scaling.beta_slow = rs.has_beta_slow() ? rs.beta_slow() : 1.0;
    c.rope_scaling.mscale = rs.has_mscale() ? rs.mscale() : 1.0;
    c.rope_scaling.mscale_all_dim = rs.has_mscale_all_dim() ? rs.mscale_all_dim() : 0.0;
  }
  return c;
}

models::DeepseekV2Config ToModelConfig(const config::RunConfig& run) {
  models::DeepseekV2Config c = ToModelConfig(run.model());
  const config::ParallelConfig& par = run.parallel();
  c.ep_devices = par.ep_routing_devices() > 0 ? par.ep_routing_devices()
                                              : std::max<int64_t>(par.ep(), 1);
  c.device_limit = par.ep_device_limit();
  c.device_balance_alpha = par.device_balance_alpha();
  c.comm_balance_alpha = par.comm_balance_alpha();
  c.capacity_factor = par.capacity_factor();
  return c;
}

}  // namespace hs::config
