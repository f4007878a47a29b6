// File: models/kernels/cpu/rope.h
//
// Rotary position embedding with DeepSeek-V2's exact layout and YaRN.
//
// Layout (HF modeling_deepseek.py, apply_rotary_pos_emb): the rope part of
// q and k arrives with rotation pairs interleaved, (x0,x1),(x2,x3),...; it
// is first de-interleaved to [x0,x2,x4,... | x1,x3,x5,...] and then rotated
// "half" style, so the OUTPUT is in the half-split layout:
//   out[i]       = x[2i]   * cos[i] - x[2i+1] * sin[i]
//   out[i + D/2] = x[2i+1] * cos[i] + x[2i]   * sin[i]      for i < D/2
// with cos/sin of position p: cos(p * inv_freq[i]) * mscale.
//
// YaRN (DeepseekV2YarnRotaryEmbedding): inv_freq blends interpolated and
// extrapolated frequencies with a linear ramp between the correction range
// found from beta_fast/beta_slow; cos/sin are scaled by
// yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all_dim), where
// yarn_mscale(s, m) = 1 if s <= 1 else 0.1 * m * ln(s) + 1.
#ifndef MODELS_KERNELS_CPU_ROPE_H_
#define MODELS_KERNELS_CPU_ROPE_H_

#include <cstdint>
#include <vector>

namespace hs::kernels::cpu {

struct RopeScaling {
  bool yarn = false;                        // false: plain RoPE
  double factor = 1.0;
  int64_t original_max_position_embeddings = 4096;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
};

// YarnGetMscale(scale, mscale): 1 if scale <= 1 else 0.1*mscale*ln(scale)+1.
double YarnGetMscale(double scale, double mscale);

// RopeInvFreq(dim, base, scaling): the D/2 inverse frequencies.
std::vector<float> RopeInvFreq(int64_t dim, double base,
                               const RopeScaling& scaling);

// RopeCosSinScale(scaling): the factor cos/sin are multiplied by (1 w/o YaRN).
float RopeCosSinScale(const RopeScaling& scaling);

// RopeTables: cos/sin[T, D/2] for positions 0..T-1 (computed in double,
// stored as float, matching HF's float32 cos/sin cache).
void RopeTables(float* cos, float* sin, const std::vector<float>& inv_freq,
                int64_t T, float scale);

// RopeForward: rotate the D-wide rope slice of each (b, t, h).
// Element (b,t,h) starts at inp + (b*T + t)*inp_token_stride + h*inp_head_stride
// (likewise for out). Position of token t is pos_offset + t (generation
// with a KV cache passes its current length). cos/sin: [>= pos_offset+T, D/2].
// `out` may equal `inp` (in place). With `positions` [B*T] (packed
// documents, each restarting at 0) token (b, t) takes position
// positions[b*T + t] instead, and pos_offset is ignored.
void RopeForward(float* out, int64_t out_token_stride, int64_t out_head_stride,
                 const float* inp, int64_t inp_token_stride,
                 int64_t inp_head_stride, const float* cos, const float* sin,
                 int64_t B, int64_t T, int64_t H, int64_t D,
                 int64_t pos_offset, const int32_t* positions = nullptr);

// RopeBackward: dinp (=) from dout — the transposed rotation, same strides
// convention. `dinp` may equal `dout`.
void RopeBackward(float* dinp, int64_t dinp_token_stride,
                  int64_t dinp_head_stride, const float* dout,
                  int64_t dout_token_stride, int64_t dout_head_stride,
                  const float* cos, const float* sin, int64_t B, int64_t T,
                  int64_t H, int64_t D, int64_t pos_offset,
                  const int32_t* positions = nullptr);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_ROPE_H_
