// File: haiscale/sweep/sweep_files.h
//
// Internal to the sweep runner: reading and writing the files of a sweep
// directory (layout in runner.h).
#ifndef HAISCALE_SWEEP_SWEEP_FILES_H_
#define HAISCALE_SWEEP_SWEEP_FILES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/sweep/runner.h"

namespace hs::sweep {

// PlanRow(point): the plan columns of a point (state pending).
PointStatus PlanRow(const SweepPoint& point);

absl::Status WritePlanCsv(const std::string& path, const std::vector<PointStatus>& rows);
absl::StatusOr<std::vector<PointStatus>> ReadPlanCsv(const std::string& path);
// WriteResultsCsv: the done and failed rows.
absl::Status WriteResultsCsv(const std::string& path, const std::vector<PointStatus>& rows);

// WriteResultJson(point_dir, p): <point_dir>/result.json (state, attempts,
// losses, metric, seconds, error).
absl::Status WriteResultJson(const std::string& point_dir, const PointStatus& p);

// ReadTrainMetrics(point_dir, p): p->step, eval_loss (of the last step) and
// train_loss (mean of the last 5% of p->steps) from metrics.jsonl.
absl::Status ReadTrainMetrics(const std::string& point_dir, PointStatus* p);

// ReadPointState(point_dir, p): state (and results when finished) from the
// point's run directory.
void ReadPointState(const std::string& point_dir, PointStatus* p);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_SWEEP_FILES_H_
