// File: models/layers/decoder_block.cc — see decoder_block.h.
#include "models/layers/decoder_block.h"

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "models/kernels/cpu/elementwise.h"
#include "models/profile/op_profile.h"

namespace hs::models {

namespace kc = kernels::cpu;

DecoderBlock::DecoderBlock(ParamArena& arena, int64_t layer,
                           const DeepseekV2Config& config,
                           ExpertDispatcher* dispatcher)
    : C_(config.hidden_size), is_moe_(config.IsMoeLayer(layer)) {
  const std::string name = absl::StrCat("model.layers.", layer);
  param_begin_ = arena.size();
  const float eps = float(config.rms_norm_eps);
  // HF state_dict order: self_attn, mlp, input_layernorm, post_attention_layernorm.
  attn_ = Mla(arena, name + ".self_attn", config);
  if (is_moe_) {
    moe_ = Moe(arena, name + ".mlp", config, dispatcher);
  } else {
    mlp_ = Mlp(arena, name + ".mlp", C_, config.intermediate_size,
               float(config.initializer_range));
  }
  input_norm_ = RmsNorm(arena, name + ".input_layernorm", C_, eps);
  post_norm_ = RmsNorm(arena, name + ".post_attention_layernorm", C_, eps);
  param_end_ = arena.size();
}

absl::Status DecoderBlock::Forward(float* out, const float* x, int64_t B,
                                   int64_t T, const RopeCache& rope,
                                   bool recompute, BlockSaved* s, const int32_t* positions) {
  HS_RETURN_IF_ERROR(ForwardImpl(out, x, B, T, rope, s, positions));
  if (recompute) s->Clear();
  return absl::OkStatus();
}

absl::Status DecoderBlock::ForwardImpl(float* out, const float* x, int64_t B,
                                       int64_t T, const RopeCache& rope,
                                       BlockSaved* s, const int32_t* positions) {
  return ForwardWithAttention(
      out, x, B, T,
      [&](float* attn_out, const float* h1) {
        attn_.Forward(attn_out, h1, B, T, rope, &s->attn, positions);
      },
      s);
}

absl::Status DecoderBlock::ForwardWithAttention(float* out, const float* x, int64_t B,
                                                int64_t T, AttentionFn attention,
                                                BlockSaved* s) {
  const int64_t N = B * T;
  s->h1 = Tensor::Uninitialized({N, C_});
  s->rstd1 = Tensor::Uninitialized({N});
  {
    OpTimer timer("rms_norm");
    input_norm_.Forward(s->h1.data<float>(), s->rstd1.data<float>(), x, N);
  }
  s->x2 = Tensor::Uninitialized({N, C_});
  attention(s->x2.data<float>(), s->h1.data<float>());
  {
    OpTimer timer("residual");
    kc::AddInPlace(s->x2.data<float>(), x, N * C_);
  }
  s->h2 = Tensor::Uninitialized({N, C_});
  s->rstd2 = Tensor::Uninitialized({N});
  {
    OpTimer timer("rms_norm");
    post_norm_.Forward(s->h2.data<float>(), s->rstd2.data<float>(), s->x2.data<float>(), N);
  }
  if (is_moe_) {
    HS_RETURN_IF_ERROR(moe_.Forward(out, s->h2.data<float>(), B, T, &s->moe));
    s->aux_loss = s->moe.aux_loss;
  } else {
    OpTimer timer("mlp (dense)");
    mlp_.Forward(out, s->h2.data<float>(), N, &s->mlp);
    s->aux_loss = 0;
  }
  OpTimer timer("residual");
  kc::AddInPlace(out, s->x2.data<float>(), N * C_);
  s->valid = true;
  return absl::OkStatus();
}

absl::Status DecoderBlock::Backward(float* dx, const float* dout, const float* x,
                                    int64_t B, int64_t T, const RopeCache& rope,
                                    float aux_scale, BlockSaved* s,
                                    const int32_t* positions) {
  const int64_t N = B * T;
  if (!s->valid) {
    // Recompute mode: rebuild the activations from the saved input.
    Tensor scratch = Tensor::Uninitialized({N, C_});
    HS_RETURN_IF_ERROR(ForwardImpl(scratch.data<float>(), x, B, T, rope, s, positions));
  }
  // out = x2 + mlp(h2): dx2 = dout + norm2^T(mlp^T(dout)). The branch's
  // first term overwrites dh2 and the norm adds dout while it writes dx2,
  // so neither buffer needs a zero fill or a copy first.
  Tensor dx2 = Tensor::Uninitialized({N, C_});
  Tensor dh2 = Tensor::Uninitialized({N, C_});
  if (is_moe_) {
    HS_RETURN_IF_ERROR(moe_.Backward(dh2.data<float>(), dout, s->h2.data<float>(), B, T,
                                     aux_scale, s->moe, /*overwrite_dx=*/true));
  } else {
    OpTimer timer("mlp (dense)");
    mlp_.Backward(dh2.data<float>(), dout, s->h2.data<float>(), N, s->mlp,
                  /*overwrite_dinp=*/true);
  }
  {
    OpTimer timer("rms_norm");
    post_norm_.Backward(dx2.data<float>(), dh2.data<float>(), s->x2.data<float>(),
                        s->rstd2.data<float>(), N, /*dinp_base=*/dout);
  }
  // x2 = x + attn(h1): dx = dx2 + norm1^T(attn^T(dx2)), the same way.
  Tensor dh1 = Tensor::Uninitialized({N, C_});
  attn_.Backward(dh1.data<float>(), dx2.data<float>(), s->h1.data<float>(), B, T, rope, s->attn,
                 positions, /*overwrite_dx=*/true);
  {
    OpTimer timer("rms_norm");
    input_norm_.Backward(dx, dh1.data<float>(), x, s->rstd1.data<float>(), N,
                         /*dinp_base=*/dx2.data<float>());
  }
  s->Clear();
  return absl::OkStatus();
}

double DecoderBlock::FlopsPerToken(int64_t T) const {
  double ffn = is_moe_ ? moe_.FlopsPerToken()
                       : 2.0 * 3.0 * double(C_) * mlp_.intermediate();
  return attn_.FlopsPerToken(T) + ffn;
}

}  // namespace hs::models
