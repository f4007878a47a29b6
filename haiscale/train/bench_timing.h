// File: haiscale/train/bench_timing.h
//
// How `hai bench train` times a trainer: untimed warmup steps, then rounds of
// timed steps, gathered into a Timing (step medians per round, exposed
// communication, what the communication thread and the calling thread cost
// the cores); two trainers' rounds interleaved for --against; the per-rank
// figures averaged over an MPI job.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(Timing t, TimeSteps(trainer, 2, 3, 8, false, nullptr));
//   printf("%.1f ms/step\n", t.median * 1e3);
#ifndef HAISCALE_TRAIN_BENCH_TIMING_H_
#define HAISCALE_TRAIN_BENCH_TIMING_H_

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/train/comm_trace.h"
#include "haiscale/train/trainer.h"
#include "models/profile/op_profile.h"
#include "parallel/ddp.h"

namespace hs::train {

struct Timing {
  double median = 0;   // seconds per step
  std::vector<double> round_median;  // seconds per step, per round
  double overlap = 0;  // mean over the timed steps
  // Per timed step: this rank's wait for its gradients after its backward
  // (StepMetrics::exposed_comm_seconds), and their mean.
  std::vector<double> exposed_steps;
  double exposed = 0;
  // Per timed step (under mpirun, GatherOverRanks), and their mean: the
  // least any rank waited after its own backward. With data parallelism
  // that is the rank whose backward ended last, so it is the communication
  // left after all compute, without the wait for slower ranks' backward
  // that rank 0's `exposed` also holds.
  std::vector<double> after_slowest_steps;
  double exposed_after_slowest = 0;
  // Mean share of the embedding's rows reduced per step (row-sparse path;
  // StepMetrics::embedding_rows_reduced), < 0 when not row-sparse.
  double embedding_rows = -1;
  int data_parallel = 1;  // StepMetrics::dp: ranks of the data-parallel group
  // Means per timed step of the data-parallel communication thread's CPU
  // seconds and context switches (CommTimeline::cpu / switches); under
  // mpirun, averaged over the ranks after the timed steps.
  double comm_cpu = 0, comm_switches = 0;
  // Mean per timed step of zeroing gradients + forward + backward (wall
  // seconds, StepMetrics::compute_seconds); under mpirun averaged over the
  // ranks like comm_cpu. A backend that slows compute shows here.
  double compute = 0;
  // Mean per timed step of the calling thread's CPU seconds (zeroing,
  // forward, backward, optimizer; not its waits, which block): with one
  // thread, what the step's own work cost, however the cores were shared.
  double main_cpu = 0;
  double main_switches = 0;  // the calling thread's context switches per step
  // Mean per timed step of the CPU seconds of every thread of the process
  // (main, communication, HFReduce's progress thread, OpenMP workers): what
  // the step cost the cores in all, which the per-thread numbers miss when
  // a backend works on a thread of its own. With --against the two trainers'
  // rounds alternate, so each round's usage is its trainer's.
  double process_cpu = 0;
  // Under mpirun, rank by rank (before the averaging): {comm_cpu, compute,
  // main_cpu} per rank. An uneven share of the communication shows here.
  std::vector<std::array<double, 3>> by_rank;
  // Per timed step: this rank's bucket spans (Trainer::last_timeline()).
  std::vector<std::vector<parallel::BucketSpan>> spans;
  // Sums over the timed steps: whole steps, and their forward + backward
  // (StepMetrics::compute_seconds); --profile's per-op totals.
  double step_total = 0, compute_total = 0;
  std::vector<models::OpProfileEntry> ops;
};

// TimeSteps: warmup untimed steps, then `rounds` rounds of `steps` timed
// ones (profiled per op with `profile`). between(r) runs after the warmup
// (r = -1) and after round r, outside the timed steps (the peer's rounds);
// may be null.
absl::StatusOr<Timing> TimeSteps(Trainer& trainer, int64_t warmup, int64_t steps, int64_t rounds,
                                 bool profile,
                                 const std::function<absl::Status(int64_t)>& between);

// TimeAgainst: both trainers' warmups, then their rounds alternating, ours
// first in even rounds and theirs first in odd ones, so neither side always
// runs after the other.
absl::Status TimeAgainst(Trainer& ours, Trainer& theirs, int64_t warmup, int64_t steps,
                         int64_t rounds, Timing* ours_timing, Timing* theirs_timing);

// GatherOverRanks(t) (collective over the job; after the timed steps, so
// the timing holds none): per timed step the least wait of any rank
// (t->after_slowest_steps, their mean in t->exposed_after_slowest); t's
// per-step communication-thread CPU and switches, compute time,
// calling-thread CPU and switches and process CPU averaged over the ranks, after t->by_rank
// got each rank's {comm_cpu, compute, main_cpu}. Returns the least waits
// with their ranks (for --comm-trace).
absl::StatusOr<LeastWaits> GatherOverRanks(Timing* t);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_BENCH_TIMING_H_
