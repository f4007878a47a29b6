// File: haiscale/round_stats.cc — see round_stats.h.
#include "haiscale/round_stats.h"

#include <algorithm>
#include <cmath>

namespace hs {

double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double MeanOf(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / double(v.size());
}

double SignTestP(int k, int n) {
  if (n <= 0 || k < 0 || k > n) return 1;
  const int lo = std::min(k, n - k);
  // P(X <= lo) for X ~ Binomial(n, 1/2), summed in logs (n can be large).
  const double log_all = std::lgamma(n + 1.0) - n * std::log(2.0);
  double tail = 0;
  for (int i = 0; i <= lo; ++i) {
    tail += std::exp(log_all - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0));
  }
  return std::min(1.0, 2 * tail);
}

double RoundComparison::sign_p() const { return SignTestP(lower, lower + higher); }

RoundComparison CompareRounds(const std::vector<double>& a, const std::vector<double>& b) {
  RoundComparison c;
  std::vector<double> ratios;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (b[i] == 0) continue;
    ratios.push_back(a[i] / b[i]);
    c.lower += a[i] < b[i];
    c.higher += a[i] > b[i];
  }
  c.rounds = int(ratios.size());
  if (ratios.empty()) return c;
  c.median = MedianOf(ratios);
  c.min = *std::min_element(ratios.begin(), ratios.end());
  c.max = *std::max_element(ratios.begin(), ratios.end());
  return c;
}

std::vector<double> RoundMeans(const std::vector<double>& per_step, int64_t steps_per_round) {
  std::vector<double> means;
  if (steps_per_round < 1) return means;
  for (size_t i = 0; i < per_step.size(); i += size_t(steps_per_round)) {
    const size_t end = std::min(per_step.size(), i + size_t(steps_per_round));
    means.push_back(MeanOf(std::vector<double>(per_step.begin() + i, per_step.begin() + end)));
  }
  return means;
}

}  // namespace hs
