// File: haiscale/sweep/plan.h
//
// The points of a sweep: for every compute budget C and every depth of the
// family (and, for a GRID sweep, every batch size x learning rate), the run
// config that spends C = M * D:
//
//   M        = ComputeModelScale(model, seq_len).m
//   B        = batch tokens (DeepSeek LLM: 0.2920 C^0.3271), rounded to
//              whole sequences (and to a multiple of the ranks)
//   steps    = round(C / M / B)            (an error when < 1)
//   D        = steps * B                   (the tokens actually trained)
//   lr       = peak lr (DeepSeek LLM: 0.3118 C^-0.125)
//   schedule = multi-step: warmup, 31.6% of the peak from 80% of the steps,
//              10% from 90%
//   time     = M * D / (gflops_per_thread * threads * ranks)
//
// Every point's config passes ValidateConfig; a point that cannot be made
// is an error naming it ("point c1e12_d7: ...").
//
// Usage:
//   HS_ASSIGN_OR_RETURN(std::vector<SweepPoint> points, MakePlan(sweep));
//   std::printf("%s", FormatPlanTable(sweep, points).c_str());
#ifndef HAISCALE_SWEEP_PLAN_H_
#define HAISCALE_SWEEP_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/config/config.pb.h"
#include "haiscale/sweep/model_scale.h"
#include "haiscale/sweep/sweep_config.h"

namespace hs::sweep {

struct SweepPoint {
  std::string name;        // "c1e12_d3" (GRID: "c1e12_d3_b4096_lr0.001")
  double budget = 0;       // C, FLOPs
  int64_t depth = 0;
  ModelScale scale;
  double batch_tokens_target = 0;  // B before rounding to sequences
  int64_t batch_seqs = 0;          // global_batch_size
  int64_t micro_batch = 0;
  int64_t steps = 0;
  int64_t tokens = 0;              // D = steps * batch_seqs * seq_len
  double lr = 0;
  double est_seconds = 0;
  config::RunConfig run;           // output_dir and threads left to the runner
};

// BudgetLabel(c): 1e12 -> "1e12", 2.5e13 -> "2.5e13".
std::string BudgetLabel(double c);

// MakePlan(sweep): every point, budgets in the order given, depths
// ascending. Errors name the point and the field.
absl::StatusOr<std::vector<SweepPoint>> MakePlan(const Sweep& sweep);

// FormatPlanTable(sweep, points, measured): the table `hai sweep plan`
// prints (C, shape, N total/activated, M, D, steps, B, lr, estimated time)
// and a total line saying where the times come from.
std::string FormatPlanTable(const Sweep& sweep, const std::vector<SweepPoint>& points,
                            bool measured = false);

// FormatDuration(seconds): "45s", "12m05s", "3h02m".
std::string FormatDuration(double seconds);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_PLAN_H_
