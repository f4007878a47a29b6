// File: models/kernels/cpu/swiglu_test.cc
//
// SwiGLU forward against silu(g) * up in double and a finite-difference
// check of both halves of dgate_up.
#include "models/kernels/cpu/swiglu.h"

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

TEST(SwiGluTest, ForwardMatchesReference) {
  const int64_t N = 5, I = 23;
  std::vector<float> gu = RandomVector(N * 2 * I, 1, 6.0f);
  std::vector<float> out(N * I);
  SwiGluForward(out.data(), gu.data(), N, I);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < I; ++i) {
      const double g = gu[n * 2 * I + i], u = gu[n * 2 * I + I + i];
      const double want = g / (1.0 + std::exp(-g)) * u;
      ASSERT_NEAR(out[n * I + i], want, 1e-6 * (1 + std::fabs(want)));
    }
  }
}

TEST(SwiGluTest, BackwardMatchesFiniteDifferences) {
  const int64_t N = 6, I = 11;
  std::vector<float> gu = RandomVector(N * 2 * I, 2, 4.0f);
  std::vector<float> r = RandomProjection(N * I, 3);
  std::vector<float> out(N * I);
  auto loss = [&] {
    SwiGluForward(out.data(), gu.data(), N, I);
    return Dot(out.data(), r.data(), N * I);
  };
  std::vector<float> dgu(N * 2 * I, 99.0f);  // overwritten (=)
  SwiGluBackward(dgu.data(), r.data(), gu.data(), N, I);
  hs::testing::GradCheckOptions opt;
  opt.max_checks = N * 2 * I;  // every element: gate and up halves
  auto res = CheckGradient("swiglu.dgate_up", loss, gu.data(), dgu.data(),
                           N * 2 * I, opt);
  EXPECT_TRUE(res.ok) << res.report;
}

}  // namespace
}  // namespace hs::kernels::cpu
