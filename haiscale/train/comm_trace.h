// File: haiscale/train/comm_trace.h
//
// `hai bench train --comm-trace` under mpirun: when each gradient bucket
// was reduced, as seen by the rank that ended backward last in every timed
// step (the rank that waited least, as in "exposed after the slowest
// rank's backward"), in milliseconds from that rank's end of backward.
// Negative times ran under backward; what ends after 0 is exposed.
//
//   bucket |    MB | kind       | start ms               | end ms
//        0 |   8.0 | dense      | -145.2 (-170.1..-101.3) | -69.0 (...)
//        5 |   8.0 | embedding  |    5.4 (2.2..13.2)      | 10.2 (...)
#ifndef HAISCALE_TRAIN_COMM_TRACE_H_
#define HAISCALE_TRAIN_COMM_TRACE_H_

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "parallel/ddp.h"

namespace hs::train {

// One bucket over the timed steps: median, min and max of its start and
// end (ms from the backward end).
struct BucketTraceRow {
  int index = 0;
  int64_t floats = 0;
  bool row_sparse = false;
  int samples = 0;
  double start_ms = 0, start_min = 0, start_max = 0;
  double end_ms = 0, end_min = 0, end_max = 0;
};

// SummarizeCommTrace: rows by bucket index from per-step spans (one rank's
// per step).
std::vector<BucketTraceRow> SummarizeCommTrace(
    const std::vector<std::vector<parallel::BucketSpan>>& steps);

// Per timed step, the least any rank waited for its gradients after its
// own backward, and that rank (the one whose backward ended last).
struct LeastWaits {
  std::vector<double> seconds;
  std::vector<int> ranks;
};

// LeastWaitPerStep (collective over `comm`): one MPI_MINLOC over every
// rank's exposed seconds per timed step (the same steps on every rank).
absl::StatusOr<LeastWaits> LeastWaitPerStep(MPI_Comm comm,
                                            const std::vector<double>& exposed_seconds);

// GatherCommTrace (collective over `comm`): every rank passes its spans per
// timed step; rank 0 gets the summary of, per step, the spans of rank
// last_ranks[step] (LeastWaits::ranks). Other ranks get an empty vector.
absl::StatusOr<std::vector<BucketTraceRow>> GatherCommTrace(
    MPI_Comm comm, const std::vector<std::vector<parallel::BucketSpan>>& steps,
    const std::vector<int>& last_ranks);

// FormatCommTrace: the table above; CommTraceJson: a JSON array of rows.
std::string FormatCommTrace(const std::vector<BucketTraceRow>& rows);
std::string CommTraceJson(const std::vector<BucketTraceRow>& rows);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_COMM_TRACE_H_
