// File: models/layers/decoder_block.h
//
// One DeepSeek-V2 decoder layer (HF DeepseekV2DecoderLayer):
//   h1 = input_layernorm(x);          x2  = x + self_attn(h1)
//   h2 = post_attention_layernorm(x2); out = x2 + mlp(h2)   (MLP or MoE)
// With `recompute`, the forward keeps nothing but its input (owned by the
// model) and the backward re-runs the forward first: activation memory of
// one block instead of all of them, for ~1/3 more compute.
#ifndef MODELS_LAYERS_DECODER_BLOCK_H_
#define MODELS_LAYERS_DECODER_BLOCK_H_

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "haiscale/tensor.h"
#include "models/layers/mla.h"
#include "models/layers/mlp.h"
#include "models/layers/moe.h"
#include "models/layers/rms_norm.h"
#include "models/model_config.h"

namespace hs::models {

struct BlockSaved {
  bool valid = false;      // false after a recompute-mode forward
  Tensor h1, rstd1;        // [N,C], [N]
  Tensor x2;               // [N,C] residual after attention
  Tensor h2, rstd2;        // [N,C], [N]
  MlaSaved attn;
  MlpSaved mlp;
  MoeSaved moe;
  double aux_loss = 0;     // survives recompute mode (reported per step)
  void Clear() {
    double aux = aux_loss;
    *this = BlockSaved();
    aux_loss = aux;
  }
};

class DecoderBlock {
 public:
  DecoderBlock(ParamArena& arena, int64_t layer, const DeepseekV2Config& config,
               ExpertDispatcher* dispatcher);

  // Forward: out[N,C] (=) from x[N,C]. `positions` [B,T]: packed
  // documents (see Mla::Forward); nullptr = one sequence per row.
  absl::Status Forward(float* out, const float* x, int64_t B, int64_t T,
                       const RopeCache& rope, bool recompute, BlockSaved* saved,
                       const int32_t* positions = nullptr);
  // Backward: dx[N,C] (=) from dout[N,C]; parameter grads (+=); the
  // Forward's positions.
  absl::Status Backward(float* dx, const float* dout, const float* x, int64_t B,
                        int64_t T, const RopeCache& rope, float aux_scale,
                        BlockSaved* saved, const int32_t* positions = nullptr);

  // ForwardWithAttention: the forward with the attention branch computed by
  // `attention(out[N,C] =, h1[N,C])` instead of this block's Mla over the
  // B x T rows: the decode path (models/decode) attends over its latent
  // cache this way and shares the norms, residuals and MLP/MoE.
  using AttentionFn = absl::FunctionRef<void(float* out, const float* h1)>;
  absl::Status ForwardWithAttention(float* out, const float* x, int64_t B, int64_t T,
                                    AttentionFn attention, BlockSaved* saved);

  const Mla& attn() const { return attn_; }
  bool is_moe() const { return is_moe_; }
  const Moe* moe() const { return is_moe_ ? &moe_ : nullptr; }
  // The block's parameters form one contiguous arena range [begin, end).
  int64_t param_begin() const { return param_begin_; }
  int64_t param_end() const { return param_end_; }
  double FlopsPerToken(int64_t T) const;

 private:
  absl::Status ForwardImpl(float* out, const float* x, int64_t B, int64_t T,
                           const RopeCache& rope, BlockSaved* s, const int32_t* positions);
  int64_t C_;
  bool is_moe_;
  RmsNorm input_norm_, post_norm_;
  Mla attn_;
  Mlp mlp_;
  Moe moe_;
  int64_t param_begin_ = 0, param_end_ = 0;
};

}  // namespace hs::models

#endif  // MODELS_LAYERS_DECODER_BLOCK_H_
