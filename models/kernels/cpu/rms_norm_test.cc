// File: models/kernels/cpu/rms_norm_test.cc
//
// RMSNorm forward against the HF formula in double, finite-difference
// gradients of input and weight, the += rule, and dweight being
// bit-identical for every thread count.
#include "models/kernels/cpu/rms_norm.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/threads.h"
#include "models/testing/grad_check.h"

namespace hs::kernels::cpu {
namespace {

using ::hs::testing::CheckGradient;
using ::hs::testing::Dot;
using ::hs::testing::RandomProjection;
using ::hs::testing::RandomVector;

TEST(RmsNormTest, ForwardMatchesReference) {
  const int64_t N = 7, C = 45;
  const float eps = 1e-6f;
  std::vector<float> x = RandomVector(N * C, 1, 2.0f);
  std::vector<float> w = RandomVector(C, 2);
  std::vector<float> out(N * C), rstd(N);
  RmsNormForward(out.data(), rstd.data(), x.data(), w.data(), N, C, eps);
  for (int64_t n = 0; n < N; ++n) {
    double ms = 0;
    for (int64_t c = 0; c < C; ++c) ms += double(x[n * C + c]) * x[n * C + c];
    const double r = 1.0 / std::sqrt(ms / C + eps);
    EXPECT_NEAR(rstd[n], r, 1e-6 * r);
    for (int64_t c = 0; c < C; ++c) {
      const double want = w[c] * (x[n * C + c] * r);
      ASSERT_NEAR(out[n * C + c], want, 1e-6 * (1 + std::fabs(want)));
    }
  }
}

TEST(RmsNormTest, BackwardMatchesFiniteDifferences) {
  // N = 70: more than two dweight row chunks, not a multiple of one.
  for (int64_t N : {1, 70}) {
    const int64_t C = 13;
    const float eps = 1e-5f;
    std::vector<float> x = RandomVector(N * C, 3);
    std::vector<float> w = RandomVector(C, 4);
    std::vector<float> r = RandomProjection(N * C, 5);
    std::vector<float> out(N * C), rstd(N);
    auto loss = [&] {
      RmsNormForward(out.data(), rstd.data(), x.data(), w.data(), N, C, eps);
      return Dot(out.data(), r.data(), N * C);
    };
    loss();
    std::vector<float> dx(N * C, 0.0f), dw(C, 0.0f);
    RmsNormBackward(dx.data(), dw.data(), r.data(), x.data(), w.data(),
                    rstd.data(), N, C);
    auto rx = CheckGradient("rms_norm.dinp", loss, x.data(), dx.data(), N * C);
    EXPECT_TRUE(rx.ok) << rx.report;
    auto rw = CheckGradient("rms_norm.dweight", loss, w.data(), dw.data(), C);
    EXPECT_TRUE(rw.ok) << rw.report;

    // += rule (forward re-run: the checks left rstd from a perturbed input).
    loss();
    std::vector<float> dx2 = dx, dw2 = dw;
    RmsNormBackward(dx2.data(), dw2.data(), r.data(), x.data(), w.data(),
                    rstd.data(), N, C);
    for (int64_t i = 0; i < N * C; ++i) ASSERT_FLOAT_EQ(dx2[i], 2 * dx[i]);
    for (int64_t c = 0; c < C; ++c) ASSERT_FLOAT_EQ(dw2[c], 2 * dw[c]);
  }
}

TEST(RmsNormTest, WeightGradientIsThreadCountInvariant) {
  const int64_t N = 301, C = 64;
  std::vector<float> x = RandomVector(N * C, 6);
  std::vector<float> w = RandomVector(C, 7);
  std::vector<float> d = RandomVector(N * C, 8);
  std::vector<float> out(N * C), rstd(N);
  RmsNormForward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-6f);
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    SetNumThreads(threads);
    std::vector<float> dx(N * C, 0.0f), dw(C, 0.0f);
    RmsNormBackward(dx.data(), dw.data(), d.data(), x.data(), w.data(),
                    rstd.data(), N, C);
    if (first.empty()) {
      first = dw;
    } else {
      EXPECT_EQ(dw, first) << "threads=" << threads;
    }
  }
  SetNumThreads(0);
}

// With dinp_base, dinp = base + the input gradient: the bits of copying
// base into dinp and accumulating, and dweight as without it.
TEST(RmsNormTest, BackwardOntoABaseEqualsCopyThenAccumulate) {
  const int64_t N = 70, C = 37;
  const std::vector<float> x = RandomVector(N * C, 11), w = RandomVector(C, 12);
  const std::vector<float> d = RandomVector(N * C, 13), base = RandomVector(N * C, 14);
  std::vector<float> rstd(N), y(N * C);
  RmsNormForward(y.data(), rstd.data(), x.data(), w.data(), N, C, 1e-6f);
  std::vector<float> copied = base, dw1(C, 0.5f);
  RmsNormBackward(copied.data(), dw1.data(), d.data(), x.data(), w.data(), rstd.data(), N, C);
  std::vector<float> onto(N * C, -7.0f), dw2(C, 0.5f);
  RmsNormBackward(onto.data(), dw2.data(), d.data(), x.data(), w.data(), rstd.data(), N, C,
                  base.data());
  EXPECT_EQ(onto, copied);
  EXPECT_EQ(dw2, dw1);
}

}  // namespace
}  // namespace hs::kernels::cpu
