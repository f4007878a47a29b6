// File: models/kernels/cpu/internal/exp.h
//
// Exp(x): a branch-free float exponential that GCC can inline and
// vectorise (glibc's expf is an opaque call, so loops around std::exp stay
// scalar). Accuracy: within 2 float ulps of exp over [-87, 88]
// (internal/exp_test.cc measures it against double exp).
//
// Method (Cody-Waite range reduction, then Taylor):
//   n = round(x / ln2),  r = x - n*ln2  (ln2 split in a high part exact in
//   float and a low correction), |r| <= ln2/2 = 0.347
//   exp(r) = sum_{k<=7} r^k / k!   (truncation r^8/8! < 6e-9, below 1 ulp)
//   exp(x) = 2^n * exp(r), 2^n built in the exponent bits.
// Out of range: x < -87 gives 0 (true value < 1.7e-38, the subnormals are
// flushed), x > 88 gives +inf (true value > 1.65e38 overflows soon after),
// NaN stays NaN.
//
// Usage:
//   for (int64_t j = 0; j < n; ++j) p[j] = internal::Exp(s[j] - m);
#ifndef MODELS_KERNELS_CPU_INTERNAL_EXP_H_
#define MODELS_KERNELS_CPU_INTERNAL_EXP_H_

#include <bit>
#include <cstdint>
#include <limits>

namespace hs::kernels::cpu::internal {

// Exp: see the banner.
inline float Exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;        // 8 significant bits: n*hi exact
  constexpr float kLn2Lo = -2.12194440e-4f;     // ln2 - kLn2Hi
  constexpr float kRound = 12582912.0f;         // 1.5 * 2^23: round to nearest
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (xc * kLog2e + kRound) - kRound;
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  // Horner form of 1 + r + r^2/2! + ... + r^7/7!.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float two_n = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  const float y = p * two_n;
  if (x < -87.0f) return 0.0f;
  if (x > 88.0f) return std::numeric_limits<float>::infinity();
  return x != x ? x : y;  // NaN in, NaN out
}

}  // namespace hs::kernels::cpu::internal

#endif  // MODELS_KERNELS_CPU_INTERNAL_EXP_H_
