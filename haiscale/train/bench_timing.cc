// File: haiscale/train/bench_timing.cc — see bench_timing.h.
#include "haiscale/train/bench_timing.h"

#include <mpi.h>

#include <algorithm>
#include <string>

#include "haiscale/round_stats.h"
#include "haiscale/status.h"
#include "haiscale/thread_priority.h"
#include "parallel/mpi_env.h"

namespace hs::train {
namespace {

// RoundTimer: one trainer's untimed warmup steps and timed rounds,
// gathered into a Timing.
class RoundTimer {
 public:
  RoundTimer(Trainer& trainer, int64_t warmup, int64_t steps, int64_t rounds)
      : trainer_(trainer), warmup_(warmup), steps_(steps), timed_(steps * rounds) {}

  absl::Status Warmup() {
    for (int64_t s = 0; s < warmup_; ++s) HS_RETURN_IF_ERROR(trainer_.TrainStep(s).status());
    return absl::OkStatus();
  }

  // Round(r): timed steps warmup + r * steps ... of round r.
  absl::Status Round(int64_t r) {
    std::vector<double> round;
    for (int64_t i = 0; i < steps_; ++i) {
      const ThreadUsage before = ThisThreadUsage();
      const ThreadUsage process_before = ThisProcessUsage();
      HS_ASSIGN_OR_RETURN(StepMetrics m, trainer_.TrainStep(warmup_ + r * steps_ + i));
      const ThreadUsage used = ThisThreadUsage() - before;
      t_.process_cpu += (ThisProcessUsage() - process_before).cpu_seconds / timed_;
      t_.main_cpu += used.cpu_seconds / timed_;
      t_.main_switches += double(used.switches) / timed_;
      round.push_back(m.step_seconds);
      t_.overlap += m.overlap / timed_;
      t_.exposed_steps.push_back(m.exposed_comm_seconds);
      t_.spans.push_back(trainer_.last_timeline().spans);
      t_.comm_cpu += trainer_.last_timeline().cpu / timed_;
      t_.comm_switches += double(trainer_.last_timeline().switches) / timed_;
      t_.data_parallel = m.dp;
      if (m.embedding_rows_reduced >= 0) {
        t_.embedding_rows = std::max(0.0, t_.embedding_rows) + m.embedding_rows_reduced / timed_;
      }
      t_.step_total += m.step_seconds;
      t_.compute_total += m.compute_seconds;
      t_.compute += m.compute_seconds / timed_;
    }
    t_.round_median.push_back(MedianOf(round));
    seconds_.insert(seconds_.end(), round.begin(), round.end());
    return absl::OkStatus();
  }

  Timing Finish() {
    t_.median = MedianOf(seconds_);
    t_.exposed = MeanOf(t_.exposed_steps);
    return t_;
  }

 private:
  Trainer& trainer_;
  int64_t warmup_, steps_, timed_;
  std::vector<double> seconds_;
  Timing t_;
};

}  // namespace

absl::StatusOr<Timing> TimeSteps(Trainer& trainer, int64_t warmup, int64_t steps, int64_t rounds,
                                 bool profile,
                                 const std::function<absl::Status(int64_t)>& between) {
  RoundTimer timer(trainer, warmup, steps, rounds);
  HS_RETURN_IF_ERROR(timer.Warmup());
  if (between) HS_RETURN_IF_ERROR(between(-1));
  if (profile) {
    models::EnableOpProfile(true);
    models::TakeOpProfile();  // drop anything from before
  }
  for (int64_t r = 0; r < rounds; ++r) {
    HS_RETURN_IF_ERROR(timer.Round(r));
    if (between) HS_RETURN_IF_ERROR(between(r));
  }
  Timing t = timer.Finish();
  if (profile) {
    t.ops = models::TakeOpProfile();
    models::EnableOpProfile(false);
  }
  return t;
}

absl::Status TimeAgainst(Trainer& ours, Trainer& theirs, int64_t warmup, int64_t steps,
                         int64_t rounds, Timing* ours_timing, Timing* theirs_timing) {
  RoundTimer a(ours, warmup, steps, rounds), b(theirs, warmup, steps, rounds);
  HS_RETURN_IF_ERROR(a.Warmup());
  HS_RETURN_IF_ERROR(b.Warmup());
  for (int64_t r = 0; r < rounds; ++r) {
    RoundTimer& first = r % 2 == 0 ? a : b;
    RoundTimer& second = r % 2 == 0 ? b : a;
    HS_RETURN_IF_ERROR(first.Round(r));
    HS_RETURN_IF_ERROR(second.Round(r));
  }
  *ours_timing = a.Finish();
  *theirs_timing = b.Finish();
  return absl::OkStatus();
}

absl::StatusOr<LeastWaits> GatherOverRanks(Timing* t) {
  HS_ASSIGN_OR_RETURN(LeastWaits least,
                      LeastWaitPerStep(parallel::MpiEnv::world(), t->exposed_steps));
  t->after_slowest_steps = least.seconds;
  t->exposed_after_slowest = MeanOf(least.seconds);
  const std::array<double, 3> mine = {t->comm_cpu, t->compute, t->main_cpu};
  t->by_rank.resize(parallel::MpiEnv::size());
  int rc = MPI_Allgather(mine.data(), 3, MPI_DOUBLE, t->by_rank.data(), 3, MPI_DOUBLE,
                         parallel::MpiEnv::world());
  if (rc != MPI_SUCCESS) return parallel::MpiError(rc, "MPI_Allgather (per-rank usage)");
  // The per-step means, each averaged over the ranks.
  const std::array<double*, 6> means = {&t->comm_cpu, &t->comm_switches, &t->compute,
                                        &t->main_cpu, &t->main_switches, &t->process_cpu};
  std::array<double, means.size()> v;
  for (size_t i = 0; i < means.size(); ++i) v[i] = *means[i];
  rc = MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_SUM,
                     parallel::MpiEnv::world());
  if (rc != MPI_SUCCESS) return parallel::MpiError(rc, "MPI_Allreduce (per-rank means)");
  for (size_t i = 0; i < means.size(); ++i) *means[i] = v[i] / parallel::MpiEnv::size();
  return least;
}

}  // namespace hs::train
