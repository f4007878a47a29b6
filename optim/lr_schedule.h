// File: optim/lr_schedule.h
//
// Learning-rate schedules as pure functions of the 0-based step (no state,
// so a resumed run just asks for LrAt(step)). With peak lr L, warmup steps
// Wu and total steps T (the last step is T - 1):
//
//   warmup (all kinds):  step < Wu   ->  L * (step + 1) / Wu
//                        (step 0 gets L / Wu; step Wu - 1 gets L)
//   constant:            step >= Wu  ->  L
//   cosine:              step >= Wu  ->  Lmin + (L - Lmin) * (1 + cos(pi*p)) / 2
//                        p = (step - Wu) / (T - 1 - Wu), clamped to [0, 1],
//                        Lmin = min_lr_ratio * L: step Wu gets L, step T - 1
//                        (and later) gets Lmin; p = 0 when T - 1 <= Wu.
//   multi-step:          step >= Wu  ->  L * factor[k] for the last milestone
//                        k with step >= floor(milestone[k] * T), else L.
//                        DeepSeek LLM (arXiv:2401.02954, section 2.3):
//                        milestones {0.8, 0.9}, factors {0.316, 0.1}; each
//                        factor is relative to the peak, not cumulative.
//                        With T = 100: steps 80..89 get 0.316 L, 90..99 0.1 L.
//
//      L |    ____________                     L |    _______
//        |   /            `--.                   |   /       |
//        |  /                 `.                 |  /        |_
//   Lmin |_/                    `-           .1L |_/           |__
//        +-Wu-----------------T-1                +-Wu-------.8T.9T-T-1
//
//        cosine                                  multi-step
//
// Usage:
//   LrScheduleOptions o;  o.kind = LrScheduleKind::kCosine;
//   o.lr = 3e-4;  o.warmup_steps = 100;  o.total_steps = 10000;
//   HS_ASSIGN_OR_RETURN(LrSchedule schedule, LrSchedule::Create(o));
//   double lr = schedule.LrAt(step);
#ifndef OPTIM_LR_SCHEDULE_H_
#define OPTIM_LR_SCHEDULE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hs::optim {

enum class LrScheduleKind { kConstant, kCosine, kMultiStep };

// ParseLrScheduleKind("constant" | "cosine" | "multistep"); the error
// lists the valid names.
absl::StatusOr<LrScheduleKind> ParseLrScheduleKind(absl::string_view name);

// LrScheduleKindName(kind): the name ParseLrScheduleKind accepts.
const char* LrScheduleKindName(LrScheduleKind kind);

// LrScheduleOptions: see the formulas above.
struct LrScheduleOptions {
  LrScheduleKind kind = LrScheduleKind::kCosine;
  double lr = 3e-4;            // peak learning rate L
  int64_t warmup_steps = 0;    // Wu
  int64_t total_steps = 1;     // T (the run's step count)
  double min_lr_ratio = 0.1;   // cosine: Lmin / L
  std::vector<double> milestones = {0.8, 0.9};   // multi-step: fractions of T
  std::vector<double> factors = {0.316, 0.1};    // multi-step: of the peak
};

// LrSchedule: a validated schedule; LrAt is pure and thread-safe.
class LrSchedule {
 public:
  // LrSchedule::Create(o): errors name the field ("lr_schedule.warmup_steps
  // ..."): lr > 0, 0 <= warmup <= total, total >= 1, min_lr_ratio in
  // [0, 1], milestones strictly increasing in (0, 1], factors > 0 and as
  // many as milestones.
  static absl::StatusOr<LrSchedule> Create(const LrScheduleOptions& o);

  // LrSchedule::LrAt(step): the learning rate for 0-based `step` (steps
  // past the end keep the last step's value; negative steps count as 0).
  double LrAt(int64_t step) const;

  const LrScheduleOptions& options() const { return o_; }

 private:
  explicit LrSchedule(const LrScheduleOptions& o);

  LrScheduleOptions o_;
  std::vector<int64_t> milestone_steps_;  // floor(milestones[k] * T + 1e-9)
};

}  // namespace hs::optim

#endif  // OPTIM_LR_SCHEDULE_H_
