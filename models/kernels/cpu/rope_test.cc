// File: models/kernels/cpu/rope_test.cc
//
// RoPE against a direct transcription of HF modeling_deepseek.py
// (DeepseekV2YarnRotaryEmbedding._set_cos_sin_cache and
// apply_rotary_pos_emb: view(d/2, 2).transpose -> q*cos + rotate_half(q)*sin,
// each step in float32 as torch does), with DeepSeek-V2's YaRN config
// (factor 40, original_max_position_embeddings 4096, beta_fast 32,
// beta_slow 1, mscale 0.707, mscale_all_dim 0.707), known values of the
// correction range and mscale, strides / in place / pos_offset, and a
// finite-difference check of the backward.
#include "models/kernels/cpu/rope.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "models/testing/grad_check.h"

namespace hs::kernels::cpu {
namespace {

using ::hs::testing::CheckGradient;
using ::hs::testing::Dot;
using ::hs::testing::RandomProjection;
using ::hs::testing::RandomVector;

constexpr double kPi = 3.14159265358979323846;

RopeScaling DeepSeekV2Yarn() {
  RopeScaling s;
  s.yarn = true;
  s.factor = 40.0;
  s.original_max_position_embeddings = 4096;
  s.beta_fast = 32.0;
  s.beta_slow = 1.0;
  s.mscale = 0.707;
  s.mscale_all_dim = 0.707;
  return s;
}

// --- HF transcription (Python semantics: math.* in double, tensors f32) ---

double HfCorrectionDim(double rot, int64_t dim, double base, double max_pos) {
  return (dim * std::log(max_pos / (rot * 2 * kPi))) / (2 * std::log(base));
}

double HfGetMscale(double scale, double mscale) {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

// inv_freq exactly as _set_cos_sin_cache builds it, step by step.
std::vector<float> HfInvFreq(int64_t dim, double base, const RopeScaling& s) {
  std::vector<float> arange;  // torch.arange(0, dim, 2, float32) / dim
  for (int64_t i = 0; i < dim; i += 2) arange.push_back(float(i) / float(dim));
  std::vector<float> freq_extra, freq_inter;
  for (float a : arange) {
    const float pw = float(std::pow(base, double(a)));  // base ** arange
    freq_extra.push_back(1.0f / pw);
    freq_inter.push_back(1.0f / (float(s.factor) * pw));
  }
  if (!s.yarn) return freq_extra;
  double low = std::floor(HfCorrectionDim(s.beta_fast, dim, base,
                                          double(s.original_max_position_embeddings)));
  double high = std::ceil(HfCorrectionDim(s.beta_slow, dim, base,
                                          double(s.original_max_position_embeddings)));
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;
  std::vector<float> inv;
  for (int64_t i = 0; i < dim / 2; ++i) {
    float ramp = (float(i) - float(low)) / float(high - low);
    ramp = std::min(1.0f, std::max(0.0f, ramp));
    const float mask = 1.0f - ramp;  // inv_freq_mask
    inv.push_back(freq_inter[i] * (1.0f - mask) + freq_extra[i] * mask);
  }
  return inv;
}

// cos_cached / sin_cached rows: emb = cat(freqs, freqs), freqs = outer(t,
// inv_freq) in float32; (emb.cos() * _mscale) in float32.
void HfCosSin(std::vector<float>& cos_full, std::vector<float>& sin_full,
              const std::vector<float>& inv, int64_t T, double mscale) {
  const int64_t half = int64_t(inv.size()), D = 2 * half;
  cos_full.assign(T * D, 0);
  sin_full.assign(T * D, 0);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < D; ++j) {
      const float f = float(t) * inv[j % half];
      cos_full[t * D + j] = std::cos(f) * float(mscale);
      sin_full[t * D + j] = std::sin(f) * float(mscale);
    }
  }
}

// apply_rotary_pos_emb on one D-vector at position p.
std::vector<double> HfApply(const float* x, int64_t D, const float* cos_row,
                            const float* sin_row) {
  std::vector<double> xp(D), out(D);
  // view(d/2, 2).transpose(-1, -2).reshape(d): [x0, x2, ..., x1, x3, ...]
  for (int64_t i = 0; i < D / 2; ++i) {
    xp[i] = x[2 * i];
    xp[D / 2 + i] = x[2 * i + 1];
  }
  for (int64_t j = 0; j < D; ++j) {
    // rotate_half(x) = cat(-x2, x1)
    const double rh = j < D / 2 ? -xp[j + D / 2] : xp[j - D / 2];
    out[j] = xp[j] * cos_row[j] + rh * sin_row[j];
  }
  return out;
}

// --- Tests ---

TEST(RopeTest, YarnMscaleKnownValues) {
  EXPECT_NEAR(YarnGetMscale(40.0, 0.707), 1.2608037774058554, 1e-12);
  EXPECT_NEAR(YarnGetMscale(40.0, 1.0), 1.3688879454113936, 1e-12);
  EXPECT_EQ(YarnGetMscale(1.0, 0.707), 1.0);
  EXPECT_EQ(YarnGetMscale(0.5, 0.707), 1.0);
  // DeepSeek-V2: mscale == mscale_all_dim, so cos/sin are unscaled (the
  // attention softmax scale carries mscale^2 instead).
  EXPECT_FLOAT_EQ(RopeCosSinScale(DeepSeekV2Yarn()), 1.0f);
  RopeScaling s = DeepSeekV2Yarn();
  s.mscale = 1.0;
  s.mscale_all_dim = 0.0;
  EXPECT_FLOAT_EQ(RopeCosSinScale(s), float(1.3688879454113936));
  EXPECT_EQ(RopeCosSinScale(RopeScaling{}), 1.0f);
}

TEST(RopeTest, InvFreqMatchesHfTranscription) {
  struct Case { int64_t dim; double base; RopeScaling s; };
  RopeScaling no_low_high_gap = DeepSeekV2Yarn();
  no_low_high_gap.beta_fast = no_low_high_gap.beta_slow = 4.0;  // low == high
  for (const Case& c : {Case{64, 10000.0, DeepSeekV2Yarn()},
                        Case{16, 10000.0, DeepSeekV2Yarn()},
                        Case{64, 10000.0, RopeScaling{}},
                        Case{32, 500000.0, DeepSeekV2Yarn()},
                        Case{64, 10000.0, no_low_high_gap}}) {
    std::vector<float> got = RopeInvFreq(c.dim, c.base, c.s);
    std::vector<float> want = HfInvFreq(c.dim, c.base, c.s);
    ASSERT_EQ(got.size(), size_t(c.dim / 2));
    // Same float32 op sequence (both built with -ffp-contract=off), so the
    // values are identical, not just close.
    for (int64_t i = 0; i < c.dim / 2; ++i) {
      EXPECT_EQ(got[i], want[i]) << "dim " << c.dim << " i " << i;
    }
  }
}

TEST(RopeTest, InvFreqDeepSeekV2CorrectionRange) {
  // dim 64, base 1e4, 4096 positions: correction dims 10.47 (beta_fast 32)
  // and 22.51 (beta_slow 1) -> low = 10, high = 23. Dims <= 10 keep
  // base^(-2i/64); dims >= 23 are divided by factor 40; between, a linear
  // blend with weight (i - 10) / 13 on the interpolated frequency.
  std::vector<float> inv = RopeInvFreq(64, 10000.0, DeepSeekV2Yarn());
  for (int64_t i = 0; i < 32; ++i) {
    const double extra = std::pow(10000.0, -2.0 * i / 64);
    const double inter = extra / 40.0;
    const double ramp = std::min(1.0, std::max(0.0, (i - 10) / 13.0));
    const double want = inter * ramp + extra * (1 - ramp);
    EXPECT_NEAR(inv[i], want, 1e-6 * want) << i;
  }
  EXPECT_NEAR(inv[1], 0.7498942093324559, 1e-7);
  EXPECT_NEAR(inv[31], 3.33380358040831e-06, 1e-12);
  // Small-bench rope dim 16: low = 2, high = 6.
  std::vector<float> inv16 = RopeInvFreq(16, 10000.0, DeepSeekV2Yarn());
  EXPECT_NEAR(inv16[2], std::pow(10000.0, -4.0 / 16), 1e-7);
  EXPECT_NEAR(inv16[6], std::pow(10000.0, -12.0 / 16) / 40, 1e-9);
}

TEST(RopeTest, TablesMatchHfCache) {
  for (bool scaled : {false, true}) {
    RopeScaling s = DeepSeekV2Yarn();
    if (scaled) s.mscale_all_dim = 0.0;  // cos/sin scale 1.2608
    const int64_t D = 64, T = 5000;      // past original_max_position
    std::vector<float> inv = RopeInvFreq(D, 10000.0, s);
    std::vector<float> cos(T * D / 2), sin(T * D / 2), hc, hs;
    RopeTables(cos.data(), sin.data(), inv, T, RopeCosSinScale(s));
    HfCosSin(hc, hs, HfInvFreq(D, 10000.0, s), T,
             HfGetMscale(s.factor, s.mscale) /
                 HfGetMscale(s.factor, s.mscale_all_dim));
    double max_err = 0;
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t i = 0; i < D / 2; ++i) {
        // Both halves of HF's row hold the same value.
        ASSERT_EQ(hc[t * D + i], hc[t * D + D / 2 + i]);
        max_err = std::max<double>(max_err, std::fabs(cos[t * D / 2 + i] - hc[t * D + i]));
        max_err = std::max<double>(max_err, std::fabs(sin[t * D / 2 + i] - hs[t * D + i]));
      }
    }
    // Same float angle; cos/sin in double rounded once vs float cosf (and,
    // when scaled, HF's second float rounding): within ~1.5 float ulps.
    EXPECT_LT(max_err, 2.5e-7) << "scaled=" << scaled;
  }
}

TEST(RopeTest, ForwardMatchesHfApplyWithStridesAndOffset) {
  // q [B,T,H,48] with the rope slice at columns 32..47 of each head (MLA's
  // q_pe); output into a compact [B,T,H,16] buffer.
  const int64_t B = 2, T = 7, H = 3, Dh = 48, D = 16, off = 32, pos0 = 5;
  const RopeScaling s = DeepSeekV2Yarn();
  std::vector<float> inv = RopeInvFreq(D, 10000.0, s);
  const int64_t Tmax = pos0 + T;
  std::vector<float> cos(Tmax * D / 2), sin(Tmax * D / 2);
  RopeTables(cos.data(), sin.data(), inv, Tmax, RopeCosSinScale(s));
  std::vector<float> hc, hs;
  HfCosSin(hc, hs, HfInvFreq(D, 10000.0, s), Tmax, 1.0);

  std::vector<float> q = RandomVector(B * T * H * Dh, 1);
  std::vector<float> out(B * T * H * D);
  RopeForward(out.data(), H * D, D, q.data() + off, H * Dh, Dh, cos.data(),
              sin.data(), B, T, H, D, pos0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t h = 0; h < H; ++h) {
        const float* x = q.data() + ((b * T + t) * H + h) * Dh + off;
        std::vector<double> want =
            HfApply(x, D, hc.data() + (pos0 + t) * D, hs.data() + (pos0 + t) * D);
        for (int64_t j = 0; j < D; ++j) {
          ASSERT_NEAR(out[((b * T + t) * H + h) * D + j], want[j], 1e-6)
              << b << "," << t << "," << h << "," << j;
        }
      }
    }
  }

  // In place on the strided slice gives the same values and leaves the
  // non-rope columns alone.
  std::vector<float> q2 = q;
  RopeForward(q2.data() + off, H * Dh, Dh, q2.data() + off, H * Dh, Dh,
              cos.data(), sin.data(), B, T, H, D, pos0);
  for (int64_t r = 0; r < B * T * H; ++r) {
    for (int64_t j = 0; j < Dh; ++j) {
      const float want = j < off ? q[r * Dh + j] : out[r * D + (j - off)];
      ASSERT_EQ(q2[r * Dh + j], want) << r << "," << j;
    }
  }
}

TEST(RopeTest, PositionZeroIsDeinterleaveOnly) {
  // T = 1 at position 0: cos = 1, sin = 0, so the output is the
  // de-interleaved input.
  const int64_t D = 8;
  std::vector<float> inv = RopeInvFreq(D, 10000.0, RopeScaling{});
  std::vector<float> cos(D / 2), sin(D / 2);
  RopeTables(cos.data(), sin.data(), inv, 1, 1.0f);
  std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7}, out(D);
  RopeForward(out.data(), D, D, x.data(), D, D, cos.data(), sin.data(), 1, 1,
              1, D, 0);
  EXPECT_EQ(out, (std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7}));
}

TEST(RopeTest, BackwardMatchesFiniteDifferencesAndInPlace) {
  const int64_t B = 2, T = 5, H = 2, D = 16, pos0 = 3;
  RopeScaling s = DeepSeekV2Yarn();
  s.mscale_all_dim = 0.0;  // non-unit cos/sin scale
  std::vector<float> inv = RopeInvFreq(D, 10000.0, s);
  std::vector<float> cos((pos0 + T) * D / 2), sin((pos0 + T) * D / 2);
  RopeTables(cos.data(), sin.data(), inv, pos0 + T, RopeCosSinScale(s));
  const int64_t n = B * T * H * D;
  std::vector<float> x = RandomVector(n, 2), out(n);
  std::vector<float> r = RandomProjection(n, 3);
  auto loss = [&] {
    RopeForward(out.data(), H * D, D, x.data(), H * D, D, cos.data(),
                sin.data(), B, T, H, D, pos0);
    return Dot(out.data(), r.data(), n);
  };
  std::vector<float> dx(n, 7.0f);  // overwritten (=)
  RopeBackward(dx.data(), H * D, D, r.data(), H * D, D, cos.data(),
               sin.data(), B, T, H, D, pos0);
  auto res = CheckGradient("rope.dinp", loss, x.data(), dx.data(), n);
  EXPECT_TRUE(res.ok) << res.report;

  std::vector<float> inplace = r;
  RopeBackward(inplace.data(), H * D, D, inplace.data(), H * D, D,
               cos.data(), sin.data(), B, T, H, D, pos0);
  EXPECT_EQ(inplace, dx);
}

}  // namespace
}  // namespace hs::kernels::cpu
