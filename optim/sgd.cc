// File: optim/sgd.cc — SGD kernel and optimizer, see sgd.h.
#include "optim/sgd.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace hs::optim {
namespace {

constexpr int64_t kParallelMin = 1 << 15;  // see adamw.cc

}  // namespace

absl::Status ValidateSgdOptions(const SgdOptions& o) {
  if (!(o.momentum >= 0.0) || !std::isfinite(o.momentum)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sgd.momentum must be >= 0, got ", o.momentum));
  }
  if (!std::isfinite(o.dampening)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sgd.dampening must be finite, got ", o.dampening));
  }
  if (!(o.weight_decay >= 0.0) || !std::isfinite(o.weight_decay)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sgd.weight_decay must be >= 0, got ", o.weight_decay));
  }
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0)) {
    return absl::InvalidArgumentError(
        "sgd.nesterov requires sgd.momentum > 0 and sgd.dampening == 0");
  }
  return absl::OkStatus();
}

void SgdUpdate(float* p, const float* g, float* buf, int64_t n, double lr,
               double weight_decay, const SgdOptions& o, bool first,
               float grad_scale) {
  const float wd = float(weight_decay);
  const float neg_lr = float(-lr);
  if (o.momentum == 0.0) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float d = g[i] * grad_scale + wd * p[i];  // L2 term
      p[i] += neg_lr * d;
    }
    return;
  }
  const float mu = float(o.momentum);
  const float keep_g = float(1.0 - o.dampening);
  const bool nesterov = o.nesterov;
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i] * grad_scale + wd * p[i];                        // L2 term
    float b = first ? d : mu * buf[i] + keep_g * d;    // momentum buffer
    buf[i] = b;
    float dir = nesterov ? d + mu * b : b;             // update direction
    p[i] += neg_lr * dir;
  }
}

Sgd::Sgd(const SgdOptions& options, DecayMask mask, int64_t begin,
         int64_t end)
    : Optimizer(std::move(mask), begin, end), options_(options) {
  if (options_.momentum != 0.0) {
    momentum_buffer_.assign(size_t(end - begin), 0.0f);
  }
}

absl::StatusOr<std::unique_ptr<Sgd>> Sgd::Create(const SgdOptions& options,
                                                 DecayMask mask, int64_t begin,
                                                 int64_t end) {
  if (absl::Status s = ValidateSgdOptions(options); !s.ok()) return s;
  if (begin < 0 || end < begin || end > mask.arena_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sgd: owned range [", begin, ", ", end, ") is outside the arena [0, ",
        mask.arena_size(), ")"));
  }
  return std::unique_ptr<Sgd>(new Sgd(options, std::move(mask), begin, end));
}

absl::Status Sgd::Step(float* params, const float* grads, int64_t offset,
                       int64_t n, int64_t step, double lr, float grad_scale) {
  if (absl::Status s = CheckRange(offset, n); !s.ok()) return s;
  if (step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sgd step: step ", step, " < 0 (steps are 0-based)"));
  }
  for (const DecayMask::Segment& seg : mask_.Segments(offset, offset + n)) {
    const int64_t local = seg.begin - offset;
    float* buf = options_.momentum == 0.0
                     ? nullptr
                     : momentum_buffer_.data() + (seg.begin - begin_);
    SgdUpdate(params + local, grads + local, buf, seg.end - seg.begin, lr,
              seg.decay ? options_.weight_decay : 0.0, options_, step == 0, grad_scale);
  }
  return absl::OkStatus();
}

std::vector<StateSpan> Sgd::StateSpans() {
  if (options_.momentum == 0.0) return {};
  return {{"momentum_buffer", momentum_buffer_.data(),
           int64_t(momentum_buffer_.size())}};
}

}  // namespace hs::optim
