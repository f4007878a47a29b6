// File: models/testing/grad_check.h
//
// Finite-difference gradient checking for hand-written backward passes.
// Every layer and kernel test uses it: perturb an input element by ±eps,
// evaluate the scalar loss in double, compare (L(+)-L(-))/2eps with the
// analytic gradient.
//
// The loss should be a fixed random projection of the outputs,
// sum_i r_i * out_i (see RandomProjection), so every output element
// contributes with a different weight.
//
// Usage:
//   GradCheckResult r = CheckGradient("rms_norm.dinp", loss_fn, x.data(), dx.data(), n);
//   EXPECT_TRUE(r.ok) << r.report;
#ifndef MODELS_TESTING_GRAD_CHECK_H_
#define MODELS_TESTING_GRAD_CHECK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hs::testing {

struct GradCheckOptions {
  double eps = 1e-2;          // perturbation (fp32 forward: not too small)
  double rel_tol = 2e-2;      // |fd - an| <= abs_tol + rel_tol * max(|fd|, |an|)
  double abs_tol = 2e-3;
  int64_t max_checks = 64;    // elements sampled (evenly spread + random)
  uint64_t seed = 1;
};

struct GradCheckResult {
  bool ok = true;
  int64_t checked = 0;
  int64_t failed = 0;
  int64_t skipped = 0;        // loss returned NaN for a perturbation
  double max_abs_err = 0;
  double max_rel_err = 0;
  std::string report;         // one line per failure (first 10) + summary
};

// CheckGradient(name, loss, x, grad, n, options)
//
// `loss` recomputes the forward from scratch and returns the scalar loss;
// it must read `x` (which this function perturbs in place and restores).
// `grad` holds the analytic dLoss/dx for the unperturbed x. A loss that
// returns NaN declines that perturbation (e.g. it changed an MoE routing
// decision); more than a quarter declined fails the check.
GradCheckResult CheckGradient(const std::string& name,
                              const std::function<double()>& loss, float* x,
                              const float* grad, int64_t n,
                              const GradCheckOptions& options = {});

// RandomProjection(n, seed): weights r_i in [-1, 1] for a test loss.
std::vector<float> RandomProjection(int64_t n, uint64_t seed);

// RandomVector(n, seed, scale): uniform in [-scale, scale].
std::vector<float> RandomVector(int64_t n, uint64_t seed, float scale = 1.0f);

// Dot(a, b, n) in double.
double Dot(const float* a, const float* b, int64_t n);

// MaxAbsDiff(a, b, n).
double MaxAbsDiff(const float* a, const float* b, int64_t n);

}  // namespace hs::testing

#endif  // MODELS_TESTING_GRAD_CHECK_H_
