// File: haiscale/sweep/runner.h
//
// Runs a sweep's points as ordinary `hai train` run directories and reads
// their state back. Layout of a sweep directory DIR:
//
//   DIR/sweep.pbtxt        the sweep config with its defaults filled
//   DIR/plan.csv           every point of the plan (name, C, shape, N, M, D, ...)
//   DIR/results.csv        finished points (done and failed) with their metric
//   DIR/<point>/run.pbtxt  the point's run config (train.output_dir = DIR/<point>)
//   DIR/<point>/...        what `hai train` writes: config.pbtxt, metrics.jsonl,
//                          checkpoints/, weights/; plus train.log (its output),
//                          sweep.pid (while running) and result.json (when finished)
//
// RunSweep starts `hai train --config DIR/<point>/run.pbtxt` (`mpirun -np N`
// in front when ranks_per_run > 1) for up to parallel_runs points at once,
// each in its own process group. Points with a result.json marked done are
// skipped; a point with a checkpoint resumes from it (hai train does that
// by itself); a failed attempt is retried until max_attempts have failed,
// then the point is reported failed and the others go on. SIGINT/SIGTERM
// are passed on to the runs as SIGTERM, so each saves a checkpoint, and the
// sweep stops; running it again continues.
//
// Usage:
//   RunOptions o;  o.dir = "runs/sweep";  o.hai_binary = SelfExecutable();
//   HS_ASSIGN_OR_RETURN(SweepOutcome out, RunSweep(sweep, points, o));
//   HS_ASSIGN_OR_RETURN(std::vector<PointStatus> st, ReadSweepStatus("runs/sweep"));
#ifndef HAISCALE_SWEEP_RUNNER_H_
#define HAISCALE_SWEEP_RUNNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/sweep/plan.h"
#include "haiscale/sweep/sweep_config.h"

namespace hs::sweep {

struct RunOptions {
  std::string dir;           // the sweep directory
  std::string hai_binary;    // the `hai` executable the points run
  bool live = false;         // rewrite one progress line (a terminal)
  double poll_seconds = 0.5;
  // Testing: the first attempt of this point gets
  // `--debug-preempt-after N` (acts as if preempted after step N).
  std::string debug_preempt_point;
  int64_t debug_preempt_after = 0;
};

enum class PointState { kPending, kRunning, kInterrupted, kDone, kFailed };
const char* PointStateName(PointState s);

// One point as read from its run directory.
struct PointStatus {
  std::string name;
  double budget = 0;
  int64_t depth = 0;
  int64_t hidden_size = 0;
  int64_t heads = 0;
  int64_t n_total = 0;
  int64_t n_activated = 0;
  double m = 0;
  int64_t tokens = 0;
  int64_t steps = 0;
  int64_t batch_seqs = 0;
  int64_t seq_len = 0;
  double lr = 0;
  double est_seconds = 0;
  PointState state = PointState::kPending;
  int64_t step = 0;          // last logged step
  int64_t attempts = 0;
  double eval_loss = -1;     // after the last step (-1: none)
  double train_loss = -1;    // mean over the last 5% of steps
  double metric = -1;        // what the fits use (sweep metric)
  double seconds = 0;        // wall time of the finished attempts
  std::string error;         // failed: why
};

struct SweepOutcome {
  int64_t done = 0;
  int64_t failed = 0;
  int64_t interrupted = 0;   // stopped by a signal; resumable
};

// SelfExecutable(): /proc/self/exe resolved.
std::string SelfExecutable();

// RunSweep: see the file comment. Errors only for the sweep itself (a
// directory that cannot be written, a point whose run.pbtxt differs from
// the plan); a point that fails is counted in the outcome.
absl::StatusOr<SweepOutcome> RunSweep(const Sweep& sweep, const std::vector<SweepPoint>& points,
                                      const RunOptions& options);

// ReadSweepStatus(dir): every point of DIR/plan.csv with its state.
absl::StatusOr<std::vector<PointStatus>> ReadSweepStatus(const std::string& dir);

// FormatStatusTable(points): the table `hai sweep status` prints.
std::string FormatStatusTable(const std::vector<PointStatus>& points);

// ReadResultsCsv(path): the rows of a results.csv (state done or failed).
absl::StatusOr<std::vector<PointStatus>> ReadResultsCsv(const std::string& path);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_RUNNER_H_
