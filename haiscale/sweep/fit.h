// File: haiscale/sweep/fit.h
//
// The scaling-law fits of `hai sweep fit` (DeepSeek LLM, arXiv:2401.02954,
// section 3; Chinchilla's approach 2):
//
//   IsoFLOP: for each budget C, least squares of loss = a x^2 + b x + c with
//            x = ln M through that budget's points (for a grid sweep the
//            best loss of each model size); the vertex gives
//            M_opt = exp(-b / 2a), L_opt = c - b^2 / 4a and D_opt = C / M_opt.
//            A budget whose vertex lies outside its sampled M range (or
//            whose parabola opens downwards) is "not bracketed" and left
//            out of the power laws.
//   power laws: ln y = ln k + e ln C by least squares over the budgets, for
//            y = M_opt, D_opt and L_opt; 95% confidence intervals of k and
//            e from a residual bootstrap: each budget's residuals resampled
//            (scaled by sqrt(n / (n - 3))), parabolas and lines refitted.
//   band:    (grid sweeps) the points within `band` (0.25%) of the best loss
//            of their budget; B_opt(C) and eta_opt(C) power laws fitted to
//            every band point, with case-resampling bootstrap intervals.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(FitResult fit, FitSweep(points, {}));
//   std::string json = FitToJson(fit);
#ifndef HAISCALE_SWEEP_FIT_H_
#define HAISCALE_SWEEP_FIT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace hs::sweep {

struct FitPoint {
  double budget = 0;        // C (the nominal budget: points of one budget share it)
  double m = 0;             // model scale M
  double tokens = 0;        // D
  double loss = 0;          // the metric
  double batch_tokens = 0;  // B
  double lr = 0;
};

// y = coef * C^exp, with 95% bootstrap intervals (lo == hi == value when
// not bootstrapped).
struct PowerLaw {
  bool valid = false;
  double coef = 0, exp = 0;
  double coef_lo = 0, coef_hi = 0, exp_lo = 0, exp_hi = 0;
  int64_t points = 0;
  // The bootstrap's (coef, exp) pairs, for confidence bands in plots.
  std::vector<std::pair<double, double>> samples;
};

struct BudgetFit {
  double budget = 0;
  int64_t points = 0;          // distinct model sizes
  double a = 0, b = 0, c = 0;  // loss = a (ln M)^2 + b ln M + c
  double m_opt = 0, d_opt = 0, loss_opt = 0;
  double m_min = 0, m_max = 0;   // sampled range
  bool bracketed = false;
  std::string note;              // why not bracketed
  // Grid sweeps: the near-optimal band of this budget.
  double best_loss = 0;
  int64_t band_points = 0;
};

struct FitOptions {
  int64_t bootstrap = 1000;  // resamples (0: no intervals)
  uint64_t seed = 0;
  double band = 0.0025;      // near-optimal: loss <= best * (1 + band)
};

struct FitResult {
  std::vector<BudgetFit> budgets;
  PowerLaw m_opt, d_opt, loss_opt;   // of the bracketed budgets
  bool grid = false;                 // several (B, lr) per budget and size
  PowerLaw batch_opt, lr_opt;        // grid: fitted to the band points
  std::vector<FitPoint> band;        // grid: the band points
  int64_t bootstrap = 0;
};

// FitParabola(x, y): least squares of y = a x^2 + b x + c; false when
// fewer than 3 distinct x.
bool FitParabola(const std::vector<double>& x, const std::vector<double>& y, double* a,
                 double* b, double* c);

// FitLine(x, y): least squares of y = intercept + slope x; false when
// fewer than 2 distinct x.
bool FitLine(const std::vector<double>& x, const std::vector<double>& y, double* intercept,
             double* slope);

// FitSweep(points, options): see the file comment. Errors when no budget
// has 3 distinct model sizes.
absl::StatusOr<FitResult> FitSweep(const std::vector<FitPoint>& points, const FitOptions& options);

// FitToJson(fit): fit.json (pretty-printed).
std::string FitToJson(const FitResult& fit);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_FIT_H_
