// File: hfreduce/reduce_kernels_test.cc — the SIMD kernels against the
// scalar reference (bit for bit, including NaN, Inf, denormals and tails),
// and the reference against a plain formula.
#include "hfreduce/reduce_kernels.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace hs::hfreduce {
namespace {

std::vector<SimdLevel> Levels() {
  std::vector<SimdLevel> levels = {SimdLevel::kScalar};
  if (static_cast<int>(CpuSimdLevel()) >= 1) levels.push_back(SimdLevel::kAvx2);
  if (static_cast<int>(CpuSimdLevel()) >= 2) levels.push_back(SimdLevel::kAvx512);
  return levels;
}

// Random floats with special values sprinkled in.
std::vector<float> RandomFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 100.0f);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) {
    v[i] = dist(rng);
    switch (rng() % 97) {
      case 0: v[i] = std::numeric_limits<float>::quiet_NaN(); break;
      case 1: v[i] = std::numeric_limits<float>::infinity(); break;
      case 2: v[i] = std::numeric_limits<float>::denorm_min() * (rng() % 100); break;
      case 3: v[i] = -0.0f; break;
      case 4: v[i] = 3.0e38f; break;  // sums overflow to Inf
      default: break;
    }
  }
  return v;
}

bool SameBits(const void* a, const void* b, size_t bytes) {
  return bytes == 0 || std::memcmp(a, b, bytes) == 0;  // empty vectors may hold null
}

TEST(ReduceKernelsTest, SumToF32MatchesFormulaAtEveryLevel) {
  const int64_t sizes[] = {0, 1, 7, 15, 16, 17, 31, 63, 64, 65, 127, 1000, 4099};
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (int nsrc : {1, 2, 3, 5, 8}) {
      for (int64_t n : sizes) {
        std::vector<std::vector<float>> f(nsrc);
        std::vector<std::vector<bf16>> b(nsrc);
        std::vector<const void*> srcs(nsrc);
        for (int s = 0; s < nsrc; ++s) {
          f[s] = RandomFloats(n, 1000 * nsrc + 7 * s + n);
          b[s].resize(n);
          for (int64_t i = 0; i < n; ++i) b[s][i] = FloatToBf16(f[s][i]);
          srcs[s] = dtype == DType::kF32 ? static_cast<const void*>(f[s].data())
                                         : static_cast<const void*>(b[s].data());
        }
        // The formula: widen, then add in source order.
        std::vector<float> want(n);
        for (int64_t i = 0; i < n; ++i) {
          float acc = 0;
          for (int s = 0; s < nsrc; ++s) {
            float x = dtype == DType::kF32 ? f[s][i] : Bf16ToFloat(b[s][i]);
            acc = s == 0 ? x : acc + x;
          }
          want[i] = acc;
        }
        for (SimdLevel level : Levels()) {
          std::vector<float> got(n + 1, 42.0f);
          SumToF32(srcs.data(), nsrc, dtype, got.data(), n, level);
          EXPECT_TRUE(SameBits(got.data(), want.data(), n * sizeof(float)))
              << SimdLevelName(level) << " dtype=" << DTypeName(dtype)
              << " nsrc=" << nsrc << " n=" << n;
          EXPECT_EQ(got[n], 42.0f) << "wrote past the end";
        }
      }
    }
  }
}

TEST(ReduceKernelsTest, ConvertFromF32RoundsOnceLikeFloatToBf16) {
  for (int64_t n : {0, 1, 9, 16, 33, 1025}) {
    std::vector<float> src = RandomFloats(n, 77 + n);
    for (float divisor : {1.0f, 3.0f, 8.0f}) {
      std::vector<bf16> want_b(n);
      std::vector<float> want_f(n);
      for (int64_t i = 0; i < n; ++i) {
        float v = divisor == 1.0f ? src[i] : src[i] / divisor;
        want_f[i] = v;
        want_b[i] = FloatToBf16(v);
      }
      for (SimdLevel level : Levels()) {
        std::vector<bf16> got_b(n + 1, bf16{0xabcd});
        ConvertFromF32(src.data(), n, DType::kBF16, divisor, got_b.data(), level);
        EXPECT_TRUE(SameBits(got_b.data(), want_b.data(), n * 2))
            << SimdLevelName(level) << " n=" << n << " div=" << divisor;
        EXPECT_EQ(got_b[n].bits, 0xabcd);
        std::vector<float> got_f(n);
        ConvertFromF32(src.data(), n, DType::kF32, divisor, got_f.data(), level);
        EXPECT_TRUE(SameBits(got_f.data(), want_f.data(), n * 4))
            << SimdLevelName(level) << " n=" << n << " div=" << divisor;
      }
    }
  }
}

TEST(ReduceKernelsTest, Bf16RoundingTiesToEven) {
  // 1 + 2^-8 is halfway between two bf16 values: rounds to the even one (1).
  float tie = 1.0f + std::ldexp(1.0f, -8);
  float above = 1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20);
  float src[16] = {tie, above};
  bf16 out[16];
  for (SimdLevel level : Levels()) {
    ConvertFromF32(src, 16, DType::kBF16, 1.0f, out, level);
    EXPECT_EQ(Bf16ToFloat(out[0]), 1.0f) << SimdLevelName(level);
    EXPECT_EQ(Bf16ToFloat(out[1]), 1.0f + std::ldexp(1.0f, -7)) << SimdLevelName(level);
  }
}

TEST(ReduceKernelsTest, AccumulateAndOrMatchScalar) {
  for (int64_t n : {0, 1, 15, 16, 100, 4097}) {
    std::vector<float> a = RandomFloats(n, 5), b = RandomFloats(n, 6);
    std::vector<float> want = a;
    for (int64_t i = 0; i < n; ++i) want[i] = want[i] + b[i];
    for (SimdLevel level : Levels()) {
      std::vector<float> got = a;
      AccumulateF32(got.data(), b.data(), n, level);
      EXPECT_TRUE(SameBits(got.data(), want.data(), n * 4)) << SimdLevelName(level);
    }
    std::vector<uint8_t> x(n), y(n), z(n), want_or(n);
    for (int64_t i = 0; i < n; ++i) {
      x[i] = i * 7;
      y[i] = i * 13 + 1;
      z[i] = 0x80 >> (i % 8);
      want_or[i] = x[i] | y[i] | z[i];
    }
    const void* srcs[3] = {x.data(), y.data(), z.data()};
    for (SimdLevel level : Levels()) {
      std::vector<uint8_t> got(n);
      OrBytes(srcs, 3, got.data(), n, level);
      EXPECT_EQ(got, want_or) << SimdLevelName(level);
    }
  }
}

TEST(ReduceKernelsTest, AnyNonzeroSeesOneValueAnywhereAndIgnoresSignedZeros) {
  const float specials[] = {1.0f, -1e-40f /* denormal */, std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN()};
  for (int64_t n : {0, 1, 5, 63, 64, 65, 128, 200}) {
    std::vector<float> x(n, -0.0f);  // -0 and +0 are zero
    for (int64_t i = 0; i < n; i += 2) x[i] = 0.0f;
    EXPECT_FALSE(AnyNonzeroF32(x.data(), n)) << "n=" << n;
    for (int64_t at = 0; at < n; ++at) {
      for (float v : specials) {
        const float keep = x[at];
        x[at] = v;
        EXPECT_TRUE(AnyNonzeroF32(x.data(), n)) << "n=" << n << " at " << at << " v " << v;
        x[at] = keep;
      }
    }
  }
}

TEST(ReduceKernelsTest, ActiveLevelIsSupported) {
  EXPECT_LE(static_cast<int>(ActiveSimdLevel()), static_cast<int>(CpuSimdLevel()));
}

}  // namespace
}  // namespace hs::hfreduce
