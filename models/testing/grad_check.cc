// File: models/testing/grad_check.cc — see grad_check.h.
#include "models/testing/grad_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "haiscale/rng.h"

namespace hs::testing {

std::vector<float> RandomProjection(int64_t n, uint64_t seed) {
  return RandomVector(n, seed ^ 0x5eedull, 1.0f);
}

std::vector<float> RandomVector(int64_t n, uint64_t seed, float scale) {
  std::vector<float> v(n);
  FillUniform(v.data(), n, seed, StreamId("testing.random_vector"), -scale, scale);
  return v;
}

double Dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * double(b[i]);
  return s;
}

double MaxAbsDiff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

GradCheckResult CheckGradient(const std::string& name,
                              const std::function<double()>& loss, float* x,
                              const float* grad, int64_t n,
                              const GradCheckOptions& options) {
  GradCheckResult result;
  std::vector<int64_t> indices;
  if (n <= options.max_checks) {
    for (int64_t i = 0; i < n; ++i) indices.push_back(i);
  } else {
    // Half evenly spread (covers first/last rows), half random.
    int64_t spread = options.max_checks / 2;
    for (int64_t j = 0; j < spread; ++j) indices.push_back(j * (n - 1) / std::max<int64_t>(spread - 1, 1));
    Philox rng(options.seed, StreamId(name));
    for (int64_t j = spread; j < options.max_checks; ++j) indices.push_back(int64_t(rng.Uint64Below(j, n)));
  }
  int reported = 0;
  for (int64_t i : indices) {
    float saved = x[i];
    x[i] = float(saved + options.eps);
    double plus = loss();
    x[i] = float(saved - options.eps);
    double minus = loss();
    x[i] = saved;
    if (std::isnan(plus) || std::isnan(minus)) {
      // The loss function declined this perturbation (e.g. it flipped an
      // MoE routing decision, where the loss is not differentiable).
      ++result.skipped;
      continue;
    }
    // Use the perturbation actually applied after fp32 rounding.
    double h = (double(float(saved + options.eps)) - double(float(saved - options.eps)));
    double fd = (plus - minus) / h;
    double an = grad[i];
    double err = std::fabs(fd - an);
    double scale = std::max(std::fabs(fd), std::fabs(an));
    double rel = scale > 0 ? err / scale : 0;
    result.max_abs_err = std::max(result.max_abs_err, err);
    if (err > options.abs_tol) result.max_rel_err = std::max(result.max_rel_err, rel);
    ++result.checked;
    if (err > options.abs_tol + options.rel_tol * scale) {
      ++result.failed;
      result.ok = false;
      if (reported++ < 10) {
        result.report += absl::StrFormat("  %s[%d]: finite-diff %.6g vs analytic %.6g (err %.3g)\n",
                                         name, i, fd, an, err);
      }
    }
  }
  if (result.skipped * 4 > int64_t(indices.size())) {
    result.ok = false;
    result.report += absl::StrFormat("  %s: %d of %d perturbations were declined\n", name,
                                     result.skipped, indices.size());
  }
  result.report += absl::StrFormat("%s: %s, %d/%d elements within tolerance (%d skipped), max abs err %.3g, max rel err %.3g",
                                   name, result.ok ? "OK" : "NOT OK",
                                   result.checked - result.failed, result.checked, result.skipped,
                                   result.max_abs_err, result.max_rel_err);
  return result;
}

}  // namespace hs::testing
