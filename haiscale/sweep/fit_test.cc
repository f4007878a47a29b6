// File: haiscale/sweep/fit_test.cc — the fitter recovers known scaling laws
// from synthetic IsoFLOP data with noise.
#include "haiscale/sweep/fit.h"

#include <cmath>

#include "gtest/gtest.h"
#include "haiscale/rng.h"

namespace hs::sweep {
namespace {

TEST(FitTest, ParabolaAndLineAreExact) {
  double a, b, c;
  ASSERT_TRUE(FitParabola({1, 2, 3, 4}, {2 + 3 + 1, 8 + 6 + 1, 18 + 9 + 1, 32 + 12 + 1}, &a, &b, &c));
  EXPECT_NEAR(a, 2, 1e-9);
  EXPECT_NEAR(b, 3, 1e-9);
  EXPECT_NEAR(c, 1, 1e-9);
  EXPECT_FALSE(FitParabola({1, 1, 2}, {1, 2, 3}, &a, &b, &c));
  double i, s;
  ASSERT_TRUE(FitLine({0, 1, 2}, {1, 3, 5}, &i, &s));
  EXPECT_NEAR(i, 1, 1e-12);
  EXPECT_NEAR(s, 2, 1e-12);
}

// IsoFLOP curves with M_opt = 0.1715 C^0.5243 (DeepSeek LLM), L_opt =
// 4.0 C^-0.05, loss = L_opt + 0.02 (ln M - ln M_opt)^2 + N(0, sigma),
// seven sizes per budget spread over +-1.6 in ln M around an off-centre
// point, five budgets 1e17..1e21.
std::vector<FitPoint> Synthetic(double sigma, uint64_t seed) {
  std::vector<FitPoint> pts;
  uint64_t n = 0;
  for (double c : {1e17, 1e18, 1e19, 1e20, 1e21}) {
    const double ln_mopt = std::log(0.1715) + 0.5243 * std::log(c);
    const double lopt = 4.0 * std::pow(c, -0.05);
    const double shift = 0.4 * (std::fmod(std::log10(c), 2.0) - 0.5);
    for (int k = 0; k < 7; ++k) {
      const double ln_m = ln_mopt + shift + (k - 3) * 0.55;
      Philox p(seed, n++);
      const double noise = sigma * std::sqrt(-2 * std::log(1 - p.Uniform(0))) *
              std::cos(6.283185307 * p.Uniform(1));
      FitPoint fp;
      fp.budget = c;
      fp.m = std::exp(ln_m);
      fp.tokens = c / fp.m;
      fp.loss = lopt + 0.02 * std::pow(ln_m - ln_mopt, 2) + noise;
      pts.push_back(fp);
    }
  }
  return pts;
}

TEST(FitTest, RecoversDeepSeekExponentsFromNoisyIsoFlops) {
  // Noise 0.002 nats (about 0.1% of the loss), the level of a repeated
  // small run. Tolerances: exponents +-0.02, coefficients within a factor
  // 1.5 (ln k is extrapolated from C ~ 1e19 back to C = 1), L_opt's
  // exponent +-0.005.
  auto fit = FitSweep(Synthetic(0.002, 7), {.bootstrap = 400, .seed = 1});
  ASSERT_TRUE(fit.ok()) << fit.status();
  ASSERT_EQ(fit->budgets.size(), 5u);
  for (const BudgetFit& b : fit->budgets) EXPECT_TRUE(b.bracketed) << b.note;
  ASSERT_TRUE(fit->m_opt.valid);
  EXPECT_NEAR(fit->m_opt.exp, 0.5243, 0.02);
  EXPECT_NEAR(fit->d_opt.exp, 0.4757, 0.02);
  EXPECT_NEAR(fit->m_opt.exp + fit->d_opt.exp, 1.0, 1e-9);  // D_opt = C / M_opt
  EXPECT_GT(fit->m_opt.coef, 0.1715 / 1.5);
  EXPECT_LT(fit->m_opt.coef, 0.1715 * 1.5);
  EXPECT_NEAR(fit->loss_opt.exp, -0.05, 0.005);
  EXPECT_NEAR(fit->loss_opt.coef, 4.0, 0.2);
  // The 95% interval holds the truth and is not degenerate.
  EXPECT_LT(fit->m_opt.exp_lo, 0.5243);
  EXPECT_GT(fit->m_opt.exp_hi, 0.5243);
  EXPECT_GT(fit->m_opt.exp_hi - fit->m_opt.exp_lo, 1e-4);
  EXPECT_FALSE(fit->grid);
}

TEST(FitTest, NoiselessDataIsExact) {
  auto fit = FitSweep(Synthetic(0, 3), {.bootstrap = 0});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->m_opt.exp, 0.5243, 1e-6);
  EXPECT_NEAR(fit->m_opt.coef, 0.1715, 1e-5);
  EXPECT_NEAR(fit->d_opt.coef, 1 / 0.1715, 1e-3);
}

TEST(FitTest, UnbracketedBudgetIsLeftOut) {
  std::vector<FitPoint> pts = Synthetic(0, 3);
  // Budget 1e21: keep only sizes above the optimum.
  std::vector<FitPoint> kept;
  for (const FitPoint& p : pts) {
    if (p.budget != 1e21 || p.m > 0.1715 * std::pow(1e21, 0.5243) * 1.5) kept.push_back(p);
  }
  auto fit = FitSweep(kept, {.bootstrap = 0});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_FALSE(fit->budgets.back().bracketed);
  EXPECT_FALSE(fit->budgets.back().note.empty());
  EXPECT_EQ(fit->m_opt.points, 4);
  EXPECT_NEAR(fit->m_opt.exp, 0.5243, 1e-6);
}

TEST(FitTest, GridBandPowerLaws) {
  // One model per budget; loss minimal at B* = 0.292 C^0.3271 and
  // eta* = 0.3118 C^-0.125, growing with the log-distance from them; the
  // band (within 0.25%) sits around the optimum.
  std::vector<FitPoint> pts;
  for (double c : {1e17, 1e18, 1e19, 1e20}) {
    const double bopt = 0.292 * std::pow(c, 0.3271), lopt = 0.3118 * std::pow(c, -0.125);
    for (int i = -3; i <= 3; ++i) {
      for (int j = -3; j <= 3; ++j) {
        for (double m : {1e8, 3e8, 1e9}) {
          FitPoint p;
          p.budget = c;
          p.m = m * std::pow(c / 1e17, 0.5);
          p.batch_tokens = bopt * std::exp(0.3 * i);
          p.lr = lopt * std::exp(0.3 * j);
          p.loss = 3.0 + 0.05 * std::pow(std::log(p.m / (3e8 * std::pow(c / 1e17, 0.5))), 2) +
                   0.01 * (0.09 * i * i + 0.09 * j * j);
          pts.push_back(p);
        }
      }
    }
  }
  auto fit = FitSweep(pts, {.bootstrap = 200});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_TRUE(fit->grid);
  ASSERT_TRUE(fit->batch_opt.valid);
  EXPECT_NEAR(fit->batch_opt.exp, 0.3271, 1e-6);
  EXPECT_NEAR(fit->lr_opt.exp, -0.125, 1e-6);
  EXPECT_NEAR(fit->batch_opt.coef, 0.292, 1e-4);
  // Band: loss <= 3 * 1.0025 keeps |i|, |j| with 0.0009 (i^2 + j^2) <= 0.0075.
  for (const FitPoint& p : fit->band) EXPECT_LE(p.loss, 3.0 * 1.0025);
  EXPECT_GT(fit->band.size(), 4u * 9u);
}

TEST(FitTest, NothingToFitIsAnError) {
  EXPECT_FALSE(FitSweep({}, {}).ok());
  std::vector<FitPoint> two = {{1e12, 1e5, 1e7, 3.0}, {1e12, 2e5, 5e6, 2.9}};
  EXPECT_FALSE(FitSweep(two, {}).ok());
}

}  // namespace
}  // namespace hs::sweep
