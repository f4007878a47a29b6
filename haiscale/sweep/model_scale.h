// File: haiscale/sweep/model_scale.h
//
// Model size and model scale of a DeepSeek-V2 shape, as the scaling-law
// sweeps count them (docs/scaling.md). DeepSeek LLM (arXiv:2401.02954,
// section 3.2) measures a model by its non-embedding FLOPs per token
//
//   M = 72 n_layer d_model^2 + 12 n_layer d_model l_seq      (dense MHA)
//
// i.e. 6 x (non-embedding matmul weights a token passes through) plus
// 3 x (the forward attention-score and attention-value FLOPs per token).
// For MLA + DeepSeekMoE the same two terms are counted on what a token
// actually uses:
//
//   weights per block: MLA q (q_proj, or q_a_proj + q_b_proj),
//                      kv_a_proj_with_mqa, kv_b_proj, o_proj;
//                      dense MLP (3 d I) or, in an MoE block, the router
//                      (d x n_routed), the shared experts and the top-k
//                      routed experts (3 d I_e each);
//   attention per block: 6 l_seq n_heads (qk_nope + qk_rope + v_head_dim).
//
// Norm weights, the embedding and the output head are not in M (as in
// DeepSeek LLM). For a dense MHA shape (q_proj d x d, kv paths d x 2d,
// o_proj d x d, MLP 8 d^2) the count reduces to the formula above.
//
// Usage:
//   ModelScale s = ComputeModelScale(cfg.model(), cfg.train().seq_len());
//   double tokens = budget / s.m;
#ifndef HAISCALE_SWEEP_MODEL_SCALE_H_
#define HAISCALE_SWEEP_MODEL_SCALE_H_

#include <cstdint>

#include "haiscale/config/config.pb.h"

namespace hs::sweep {

struct ModelScale {
  int64_t n_total = 0;        // every parameter (embedding, head, norms, all experts)
  int64_t n_activated = 0;    // parameters one token uses (top-k routed experts only)
  int64_t n_embedding = 0;    // embed_tokens + lm_head
  int64_t n_nonembedding_activated = 0;  // matmul weights counted in M
  double m = 0;               // non-embedding FLOPs per token (training: fwd + bwd)
};

// ComputeModelScale(model, seq_len): the counts above for `model` (defaults
// filled, as LoadConfig leaves it) trained on sequences of `seq_len` tokens.
ModelScale ComputeModelScale(const config::ModelConfig& model, int64_t seq_len);

// DenseModelScale(n_layer, d_model, seq_len): DeepSeek LLM's dense formula
// 72 n d^2 + 12 n d l, for comparison.
double DenseModelScale(int64_t n_layer, int64_t d_model, int64_t seq_len);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_MODEL_SCALE_H_
