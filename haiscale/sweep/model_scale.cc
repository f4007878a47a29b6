// File: haiscale/sweep/model_scale.cc — see model_scale.h.
#include "haiscale/sweep/model_scale.h"

#include "haiscale/config/config.h"

namespace hs::sweep {

ModelScale ComputeModelScale(const config::ModelConfig& model, int64_t seq_len) {
  const int64_t d = model.hidden_size();
  const int64_t h = model.num_attention_heads();
  const int64_t qk_head = model.qk_nope_head_dim() + model.qk_rope_head_dim();
  const int64_t q_rank = model.q_lora_rank();
  const int64_t kv_rank = model.kv_lora_rank();

  // MLA projections (the same in every block).
  int64_t attn_matmul = 0;
  int64_t attn_norms = 0;
  if (q_rank > 0) {
    attn_matmul += d * q_rank + q_rank * h * qk_head;  // q_a_proj, q_b_proj
    attn_norms += q_rank;                              // q_a_layernorm
  } else {
    attn_matmul += d * h * qk_head;                    // q_proj
  }
  attn_matmul += d * (kv_rank + model.qk_rope_head_dim());            // kv_a_proj_with_mqa
  attn_matmul += kv_rank * h * (model.qk_nope_head_dim() + model.v_head_dim());  // kv_b_proj
  attn_matmul += h * model.v_head_dim() * d;                          // o_proj
  attn_norms += kv_rank + 2 * d;  // kv_a_layernorm, input/post-attention norms
  const double attn_flops =
      6.0 * double(seq_len) * double(h) * double(qk_head + model.v_head_dim());

  ModelScale s;
  s.n_embedding = 2 * model.vocab_size() * d;
  s.n_total = s.n_embedding + d;  // + final norm
  int64_t matmul_activated = 0;
  double attention = 0;
  for (int64_t layer = 0; layer < model.num_hidden_layers(); ++layer) {
    int64_t total = attn_matmul + attn_norms;
    int64_t active = attn_matmul;
    if (config::IsMoeLayer(model, layer)) {
      const int64_t expert = 3 * d * model.moe_intermediate_size();
      const int64_t router = d * model.n_routed_experts();
      const int64_t shared = model.n_shared_experts() * expert;
      total += router + shared + model.n_routed_experts() * expert;
      active += router + shared + model.num_experts_per_tok() * expert;
    } else {
      total += 3 * d * model.intermediate_size();
      active += 3 * d * model.intermediate_size();
    }
    s.n_total += total;
    s.n_activated += active + attn_norms;
    matmul_activated += active;
    attention += attn_flops;
  }
  s.n_activated += s.n_embedding + d;
  s.n_nonembedding_activated = matmul_activated;
  s.m = 6.0 * double(matmul_activated) + attention;
  return s;
}

double DenseModelScale(int64_t n_layer, int64_t d_model, int64_t seq_len) {
  const double n = double(n_layer), dm = double(d_model), l = double(seq_len);
  return 72.0 * n * dm * dm + 12.0 * n * dm * l;
}

}  // namespace hs::sweep
