// File: models/kernels/cpu/internal/exp_test.cc
//
// internal::Exp against double exp: at most 2 float ulps over [-87, 88]
// (a dense sweep plus every integer multiple of ln2 boundary region), and
// the out-of-range / special values.
#include "models/kernels/cpu/internal/exp.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace hs::kernels::cpu::internal {
namespace {

TEST(ExpTest, WithinTwoUlpsOverRange) {
  double worst_ulps = 0;
  float worst_x = 0;
  for (int64_t i = 0; i <= 1750000; ++i) {
    const float x = -87.0f + float(i) * 1e-4f;
    if (x > 88.0f) break;
    const double want = std::exp(double(x));
    const double ulp = std::ldexp(1.0, std::ilogb(float(want)) - 23);
    const double ulps = std::fabs(double(Exp(x)) - want) / ulp;
    if (ulps > worst_ulps) {
      worst_ulps = ulps;
      worst_x = x;
    }
  }
  std::printf("max error %.3f ulps at x = %.7g\n", worst_ulps, worst_x);
  EXPECT_LE(worst_ulps, 2.0) << "at x = " << worst_x;
  EXPECT_EQ(Exp(0.0f), 1.0f);
}

TEST(ExpTest, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Exp(-inf), 0.0f);
  EXPECT_EQ(Exp(-100.0f), 0.0f);
  EXPECT_EQ(Exp(inf), inf);
  EXPECT_EQ(Exp(100.0f), inf);
  EXPECT_TRUE(std::isnan(Exp(std::numeric_limits<float>::quiet_NaN())));
}

}  // namespace
}  // namespace hs::kernels::cpu::internal
