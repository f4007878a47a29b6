// File: optim/lr_schedule.cc — learning-rate schedules, see lr_schedule.h.
#include "optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace hs::optim {

absl::StatusOr<LrScheduleKind> ParseLrScheduleKind(absl::string_view name) {
  if (name == "constant") return LrScheduleKind::kConstant;
  if (name == "cosine") return LrScheduleKind::kCosine;
  if (name == "multistep") return LrScheduleKind::kMultiStep;
  return absl::InvalidArgumentError(
      absl::StrCat("lr_schedule.kind: unknown schedule '", name,
                   "' (expected constant, cosine or multistep)"));
}

const char* LrScheduleKindName(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::kConstant:
      return "constant";
    case LrScheduleKind::kCosine:
      return "cosine";
    case LrScheduleKind::kMultiStep:
      return "multistep";
  }
  return "unknown";
}

LrSchedule::LrSchedule(const LrScheduleOptions& o) : o_(o) {
  for (double m : o_.milestones) {
    // The epsilon keeps decimal fractions like 0.7 * 10 from flooring to 6.
    milestone_steps_.push_back(
        int64_t(std::floor(m * double(o_.total_steps) + 1e-9)));
  }
}

absl::StatusOr<LrSchedule> LrSchedule::Create(const LrScheduleOptions& o) {
  auto bad = [](auto... parts) {
    return absl::InvalidArgumentError(absl::StrCat("lr_schedule.", parts...));
  };
  if (!(o.lr > 0.0) || !std::isfinite(o.lr)) {
    return bad("lr must be > 0, got ", o.lr);
  }
  if (o.total_steps < 1) {
    return bad("total_steps must be >= 1, got ", o.total_steps);
  }
  if (o.warmup_steps < 0 || o.warmup_steps > o.total_steps) {
    return bad("warmup_steps must be in [0, total_steps = ", o.total_steps,
               "], got ", o.warmup_steps);
  }
  if (o.kind == LrScheduleKind::kCosine &&
      !(o.min_lr_ratio >= 0.0 && o.min_lr_ratio <= 1.0)) {
    return bad("min_lr_ratio must be in [0, 1], got ", o.min_lr_ratio);
  }
  if (o.kind == LrScheduleKind::kMultiStep) {
    if (o.milestones.size() != o.factors.size()) {
      return bad("factors has ", o.factors.size(),
                 " entries but milestones has ", o.milestones.size());
    }
    for (size_t k = 0; k < o.milestones.size(); ++k) {
      double m = o.milestones[k];
      if (!(m > 0.0 && m <= 1.0)) {
        return bad("milestones[", k, "] must be in (0, 1], got ", m);
      }
      if (k > 0 && !(m > o.milestones[k - 1])) {
        return bad("milestones must be strictly increasing: milestones[", k,
                   "] = ", m, " after ", o.milestones[k - 1]);
      }
      if (!(o.factors[k] > 0.0) || !std::isfinite(o.factors[k])) {
        return bad("factors[", k, "] must be > 0, got ", o.factors[k]);
      }
    }
  }
  return LrSchedule(o);
}

double LrSchedule::LrAt(int64_t step) const {
  const double peak = o_.lr;
  const int64_t last = o_.total_steps - 1;
  step = std::clamp<int64_t>(step, 0, last);
  const int64_t wu = o_.warmup_steps;
  if (step < wu) return peak * double(step + 1) / double(wu);
  switch (o_.kind) {
    case LrScheduleKind::kConstant:
      return peak;
    case LrScheduleKind::kCosine: {
      const double min_lr = o_.min_lr_ratio * peak;
      const int64_t span = last - wu;  // steps from the peak to the end
      const double p =
          span <= 0 ? 0.0
                    : std::clamp(double(step - wu) / double(span), 0.0, 1.0);
      return min_lr + (peak - min_lr) * 0.5 * (1.0 + std::cos(M_PI * p));
    }
    case LrScheduleKind::kMultiStep: {
      double factor = 1.0;
      for (size_t k = 0; k < milestone_steps_.size(); ++k) {
        if (step >= milestone_steps_[k]) factor = o_.factors[k];
      }
      return peak * factor;
    }
  }
  return peak;
}

}  // namespace hs::optim
