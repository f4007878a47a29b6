// File: optim/adamw.cc — AdamW kernel and optimizer, see adamw.h.
#include "optim/adamw.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace hs::optim {
namespace {

// Below this many elements a run is updated by one thread: starting an
// OpenMP team costs more than the update (norm weights are ~1K elements).
constexpr int64_t kParallelMin = 1 << 15;

}  // namespace

absl::Status ValidateAdamWOptions(const AdamWOptions& o) {
  if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("adamw.beta1 must be in [0, 1), got ", o.beta1));
  }
  if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("adamw.beta2 must be in [0, 1), got ", o.beta2));
  }
  if (!(o.eps > 0.0) || !std::isfinite(o.eps)) {
    return absl::InvalidArgumentError(
        absl::StrCat("adamw.eps must be > 0, got ", o.eps));
  }
  if (!(o.weight_decay >= 0.0) || !std::isfinite(o.weight_decay)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adamw.weight_decay must be >= 0, got ", o.weight_decay));
  }
  return absl::OkStatus();
}

void AdamWUpdate(float* p, const float* g, float* m, float* v, int64_t n,
                 double lr, double weight_decay, const AdamWOptions& o,
                 int64_t t, float grad_scale) {
  // Scalars in double, rounded once to fp32 (torch does the same with its
  // Python-float hyper-parameters).
  const double bc1 = 1.0 - std::pow(o.beta1, double(t));
  const double bc2 = 1.0 - std::pow(o.beta2, double(t));
  const float decay_keep = float(1.0 - lr * weight_decay);  // p *= 1 - lr*wd
  const float b1 = float(o.beta1), one_minus_b1 = float(1.0 - o.beta1);
  const float b2 = float(o.beta2), one_minus_b2 = float(1.0 - o.beta2);
  const float step_size = float(lr / bc1);              // lr / (1 - b1^t)
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));  // sqrt(vhat) = sqrt(v)/sqrt(bc2)
  const float eps = float(o.eps);
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i] * grad_scale;  // x 1.0f is exact: unscaled bits unchanged
    float mi = b1 * m[i] + one_minus_b1 * gi;
    float vi = b2 * v[i] + one_minus_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float denom = std::sqrt(vi) * inv_sqrt_bc2 + eps;  // sqrt(vhat) + eps
    p[i] = p[i] * decay_keep - step_size * mi / denom;
  }
}

AdamW::AdamW(const AdamWOptions& options, DecayMask mask, int64_t begin,
             int64_t end)
    : Optimizer(std::move(mask), begin, end),
      options_(options),
      exp_avg_(size_t(end - begin), 0.0f),
      exp_avg_sq_(size_t(end - begin), 0.0f) {}

absl::StatusOr<std::unique_ptr<AdamW>> AdamW::Create(
    const AdamWOptions& options, DecayMask mask, int64_t begin, int64_t end) {
  if (absl::Status s = ValidateAdamWOptions(options); !s.ok()) return s;
  if (begin < 0 || end < begin || end > mask.arena_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adamw: owned range [", begin, ", ", end,
        ") is outside the arena [0, ", mask.arena_size(), ")"));
  }
  return std::unique_ptr<AdamW>(new AdamW(options, std::move(mask), begin, end));
}

absl::Status AdamW::Step(float* params, const float* grads, int64_t offset,
                         int64_t n, int64_t step, double lr, float grad_scale) {
  if (absl::Status s = CheckRange(offset, n); !s.ok()) return s;
  if (step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("adamw step: step ", step, " < 0 (steps are 0-based)"));
  }
  const int64_t t = step + 1;
  for (const DecayMask::Segment& seg : mask_.Segments(offset, offset + n)) {
    const int64_t local = seg.begin - offset;  // into params/grads
    const int64_t state = seg.begin - begin_;  // into m/v
    AdamWUpdate(params + local, grads + local, exp_avg_.data() + state,
                exp_avg_sq_.data() + state, seg.end - seg.begin, lr,
                seg.decay ? options_.weight_decay : 0.0, options_, t, grad_scale);
  }
  return absl::OkStatus();
}

std::vector<StateSpan> AdamW::StateSpans() {
  return {{"exp_avg", exp_avg_.data(), int64_t(exp_avg_.size())},
          {"exp_avg_sq", exp_avg_sq_.data(), int64_t(exp_avg_sq_.size())}};
}

}  // namespace hs::optim
