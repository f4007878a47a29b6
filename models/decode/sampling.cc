// File: models/decode/sampling.cc — see sampling.h.
#include "models/decode/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace hs::models::decode {

absl::Status CheckSamplingParams(const SamplingParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--temperature must be >= 0 (0 = greedy), got ", p.temperature));
  }
  if (p.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--top-k must be >= 0 (0 = off), got ", p.top_k));
  }
  if (!(p.top_p > 0 && p.top_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--top-p must be in (0, 1], got ", p.top_p));
  }
  return absl::OkStatus();
}

int32_t Argmax(const float* logits, int64_t V) {
  return int32_t(std::max_element(logits, logits + V) - logits);  // first of equals
}

Candidates FilteredDistribution(const float* logits, int64_t V, const SamplingParams& p) {
  // Most probable first; ties by id.
  std::vector<int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int64_t keep = V;
  if (p.top_k > 0 && p.top_k < V) {
    keep = p.top_k;
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), before);
  } else {
    std::sort(order.begin(), order.end(), before);
  }
  // Softmax over the kept tokens (top-k drops the rest, as -inf would).
  Candidates c;
  c.probs.resize(keep);
  const double inv_t = 1.0 / p.temperature, top = double(logits[order[0]]);
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    c.probs[i] = std::exp((double(logits[order[i]]) - top) * inv_t);
    sum += c.probs[i];
  }
  for (double& q : c.probs) q /= sum;
  if (p.top_p < 1) {
    double before_mass = 0;
    int64_t n = 0;
    while (n < keep && (n == 0 || before_mass < p.top_p)) before_mass += c.probs[n++];
    keep = n;
    c.probs.resize(keep);
    double kept = 0;
    for (double q : c.probs) kept += q;
    for (double& q : c.probs) q /= kept;
  }
  c.ids.assign(order.begin(), order.begin() + keep);
  return c;
}

int32_t SampleToken(const float* logits, int64_t V, const SamplingParams& p, float u) {
  if (p.temperature == 0) return Argmax(logits, V);
  if ((p.top_k == 0 || p.top_k >= V) && p.top_p >= 1) {
    // No filter: the whole softmax, walked in id order (no sort).
    const double inv_t = 1.0 / p.temperature, top = double(logits[Argmax(logits, V)]);
    std::vector<double> w(V);
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += w[i] = std::exp((double(logits[i]) - top) * inv_t);
    const double target = double(u) * sum;
    double cum = 0;
    for (int64_t i = 0; i < V; ++i) {
      cum += w[i];
      if (target < cum) return int32_t(i);
    }
    return int32_t(V - 1);
  }
  const Candidates c = FilteredDistribution(logits, V, p);
  double cum = 0;
  for (size_t i = 0; i < c.ids.size(); ++i) {
    cum += c.probs[i];
    if (double(u) < cum) return c.ids[i];
  }
  return c.ids.back();  // u within rounding of 1
}

void SampleTokens(int32_t* out, const float* logits, int64_t B, int64_t V,
                  const SamplingParams& params, const float* u) {
#pragma omp parallel for schedule(dynamic) if (B > 1)
  for (int64_t b = 0; b < B; ++b) out[b] = SampleToken(logits + b * V, V, params, u[b]);
}

}  // namespace hs::models::decode
