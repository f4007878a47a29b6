// File: models/kernels/cpu/rope.cc
//
// DeepSeek-V2 rotary embedding (HF modeling_deepseek.py: DeepseekV2
// RotaryEmbedding / DeepseekV2YarnRotaryEmbedding / apply_rotary_pos_emb).
//
// Precision, chosen to reproduce HF's float32 cache rather than to be "more
// exact" than it (a released checkpoint must give HF's logits):
//   * inv_freq follows HF's float32 steps: exponent 2i/dim in float32,
//     base^e rounded to float32, 1/x in float32, the YaRN ramp and blend in
//     float32. The correction range (floor/ceil of the correction dims) is in
//     double, as Python's math module computes it.
//   * RopeTables forms the angle t * inv_freq[i] as a float32 product (HF's
//     torch.outer on float32 t), then evaluates cos/sin of that float angle
//     in double, multiplies by the YaRN scale in double and rounds once to
//     float. At position ~1e5 the angle's float32 rounding is ~4e-3 rad, far
//     more than the cos/sin evaluation error, so the product is what matters.
//
// Usage:
//   RopeScaling s{.yarn = true, .factor = 40, .mscale = 0.707,
//                 .mscale_all_dim = 0.707};
//   std::vector<float> inv_freq = RopeInvFreq(64, 10000.0, s);
//   RopeTables(cos, sin, inv_freq, max_T, RopeCosSinScale(s));
//   RopeForward(q_pe, ..., cos, sin, B, T, H, 64, /*pos_offset=*/0);
#include "models/kernels/cpu/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "haiscale/logging.h"

namespace hs::kernels::cpu {
namespace {

// CorrectionDim: the dimension index whose wavelength completes
// `num_rotations` turns over `max_pos` positions (YaRN, inverse of
// wavelength 2*pi*base^(2i/dim)), in double.
double CorrectionDim(double num_rotations, int64_t dim, double base,
                     int64_t max_pos) {
  return (double(dim) *
          std::log(double(max_pos) / (num_rotations * 2.0 * std::numbers::pi))) /
         (2.0 * std::log(base));
}

// RotateOne: the rotation of one D-wide slice. `x` and `o` may be equal, so
// the input goes through `tmp` first.
//   o[i]     = x[2i]   * c[i] - x[2i+1] * s[i]
//   o[i+D/2] = x[2i+1] * c[i] + x[2i]   * s[i]
inline void RotateOne(float* o, const float* x, const float* c,
                      const float* s, int64_t half, float* tmp) {
  std::copy(x, x + 2 * half, tmp);
  for (int64_t i = 0; i < half; ++i) {
    const float x0 = tmp[2 * i], x1 = tmp[2 * i + 1];
    o[i] = x0 * c[i] - x1 * s[i];
    o[i + half] = x1 * c[i] + x0 * s[i];
  }
}

// RotateOneBackward: the transpose of RotateOne,
//   dx[2i]   =  c[i] * d[i] + s[i] * d[i+D/2]
//   dx[2i+1] = -s[i] * d[i] + c[i] * d[i+D/2]
inline void RotateOneBackward(float* dx, const float* d, const float* c,
                              const float* s, int64_t half, float* tmp) {
  std::copy(d, d + 2 * half, tmp);
  for (int64_t i = 0; i < half; ++i) {
    const float d0 = tmp[i], d1 = tmp[i + half];
    dx[2 * i] = c[i] * d0 + s[i] * d1;
    dx[2 * i + 1] = c[i] * d1 - s[i] * d0;
  }
}

// Largest rope width a thread's stack buffer holds (DeepSeek-V2 uses 64).
constexpr int64_t kMaxRopeDim = 1024;

}  // namespace

// YarnGetMscale: 1 for scale <= 1, else 0.1 * mscale * ln(scale) + 1.
double YarnGetMscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

// RopeInvFreq: plain  inv[i] = 1 / base^(2i/dim);
// YaRN: extra[i] = 1 / base^(2i/dim), inter[i] = 1 / (factor * base^(2i/dim)),
//       [low, high] = floor/ceil of the correction dims for beta_fast and
//       beta_slow, clamped to [0, dim-1];
//       ramp[i] = clamp((i - low) / (high - low), 0, 1)  (high += 0.001 if
//       equal), mask = 1 - ramp,
//       inv[i] = inter[i] * (1 - mask) + extra[i] * mask.
// So dims below `low` (many rotations) keep their frequency, dims above
// `high` are interpolated by 1/factor, and the ramp blends in between.
std::vector<float> RopeInvFreq(int64_t dim, double base,
                               const RopeScaling& scaling) {
  HS_CHECK(dim > 0 && dim % 2 == 0) << "rope dim must be even, got " << dim;
  const int64_t half = dim / 2;
  std::vector<float> extra(half), inv(half);
  for (int64_t i = 0; i < half; ++i) {
    const float e = float(2 * i) / float(dim);
    const float pw = float(std::pow(base, double(e)));
    extra[i] = 1.0f / pw;
  }
  if (!scaling.yarn) return extra;

  const float factor = float(scaling.factor);
  const int64_t max_pos = scaling.original_max_position_embeddings;
  const int64_t low = std::max<int64_t>(
      int64_t(std::floor(CorrectionDim(scaling.beta_fast, dim, base, max_pos))),
      0);
  const int64_t high = std::min<int64_t>(
      int64_t(std::ceil(CorrectionDim(scaling.beta_slow, dim, base, max_pos))),
      dim - 1);
  double hi = double(high);
  if (low == high) hi += 0.001;  // avoid a zero-width ramp
  const float width = float(hi - double(low));
  for (int64_t i = 0; i < half; ++i) {
    const float e = float(2 * i) / float(dim);
    const float pw = float(std::pow(base, double(e)));
    const float inter = 1.0f / (factor * pw);
    const float ramp =
        std::clamp((float(i) - float(low)) / width, 0.0f, 1.0f);
    const float mask = 1.0f - ramp;
    inv[i] = inter * (1.0f - mask) + extra[i] * mask;
  }
  return inv;
}

// RopeCosSinScale: yarn_mscale(factor, mscale) / yarn_mscale(factor,
// mscale_all_dim) with YaRN, else 1.
float RopeCosSinScale(const RopeScaling& scaling) {
  if (!scaling.yarn) return 1.0f;
  return float(YarnGetMscale(scaling.factor, scaling.mscale) /
               YarnGetMscale(scaling.factor, scaling.mscale_all_dim));
}

// RopeTables: cos/sin[t, i] = scale * cos/sin(float(t) * inv_freq[i]), the
// angle as a float32 product (see the banner), the rest in double.
void RopeTables(float* cos, float* sin, const std::vector<float>& inv_freq,
                int64_t T, float scale) {
  const int64_t half = static_cast<int64_t>(inv_freq.size());
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = float(t) * inv_freq[i];
      cos[t * half + i] = float(std::cos(double(angle)) * double(scale));
      sin[t * half + i] = float(std::sin(double(angle)) * double(scale));
    }
  }
}

// RopeForward: (b, t, h) slices in parallel; position pos_offset + t.
void RopeForward(float* out, int64_t out_token_stride, int64_t out_head_stride,
                 const float* inp, int64_t inp_token_stride,
                 int64_t inp_head_stride, const float* cos, const float* sin,
                 int64_t B, int64_t T, int64_t H, int64_t D,
                 int64_t pos_offset, const int32_t* positions) {
  HS_CHECK(D % 2 == 0 && D <= kMaxRopeDim) << "rope dim " << D;
  const int64_t half = D / 2;
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < B * T; ++bt) {
    float tmp[kMaxRopeDim];
    const int64_t pos = positions ? int64_t(positions[bt]) : pos_offset + bt % T;
    const float* c = cos + pos * half;
    const float* s = sin + pos * half;
    for (int64_t h = 0; h < H; ++h) {
      RotateOne(out + bt * out_token_stride + h * out_head_stride,
                inp + bt * inp_token_stride + h * inp_head_stride, c, s, half,
                tmp);
    }
  }
}

// RopeBackward: dinp = R^T dout for each (b, t, h) slice.
void RopeBackward(float* dinp, int64_t dinp_token_stride,
                  int64_t dinp_head_stride, const float* dout,
                  int64_t dout_token_stride, int64_t dout_head_stride,
                  const float* cos, const float* sin, int64_t B, int64_t T,
                  int64_t H, int64_t D, int64_t pos_offset,
                  const int32_t* positions) {
  HS_CHECK(D % 2 == 0 && D <= kMaxRopeDim) << "rope dim " << D;
  const int64_t half = D / 2;
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < B * T; ++bt) {
    float tmp[kMaxRopeDim];
    const int64_t pos = positions ? int64_t(positions[bt]) : pos_offset + bt % T;
    const float* c = cos + pos * half;
    const float* s = sin + pos * half;
    for (int64_t h = 0; h < H; ++h) {
      RotateOneBackward(dinp + bt * dinp_token_stride + h * dinp_head_stride,
                        dout + bt * dout_token_stride + h * dout_head_stride,
                        c, s, half, tmp);
    }
  }
}

}  // namespace hs::kernels::cpu
