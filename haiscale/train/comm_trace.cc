// File: haiscale/train/comm_trace.cc — see comm_trace.h.
#include "haiscale/train/comm_trace.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "parallel/mpi_env.h"

namespace hs::train {

namespace {

constexpr int kFields = 5;  // index, floats, row_sparse, start, end

// MPI_DOUBLE_INT's layout, for MPI_MINLOC.
struct ValueRank {
  double value;
  int rank;
};

double MedianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

std::vector<BucketTraceRow> SummarizeCommTrace(
    const std::vector<std::vector<parallel::BucketSpan>>& steps) {
  std::map<int, std::vector<const parallel::BucketSpan*>> by_index;
  for (const auto& step : steps)
    for (const parallel::BucketSpan& s : step) by_index[s.index].push_back(&s);
  std::vector<BucketTraceRow> rows;
  for (const auto& [index, spans] : by_index) {
    BucketTraceRow row;
    row.index = index;
    row.floats = spans.front()->floats;
    row.row_sparse = spans.front()->row_sparse;
    row.samples = int(spans.size());
    std::vector<double> starts, ends;
    for (const parallel::BucketSpan* s : spans) {
      starts.push_back(s->start * 1e3);
      ends.push_back(s->end * 1e3);
    }
    row.start_ms = MedianOf(starts);
    row.end_ms = MedianOf(ends);
    row.start_min = *std::min_element(starts.begin(), starts.end());
    row.start_max = *std::max_element(starts.begin(), starts.end());
    row.end_min = *std::min_element(ends.begin(), ends.end());
    row.end_max = *std::max_element(ends.begin(), ends.end());
    rows.push_back(row);
  }
  return rows;
}

absl::StatusOr<LeastWaits> LeastWaitPerStep(MPI_Comm comm,
                                            const std::vector<double>& exposed_seconds) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::vector<ValueRank> least(exposed_seconds.size());
  for (size_t s = 0; s < least.size(); ++s) least[s] = {exposed_seconds[s], rank};
  const int rc = MPI_Allreduce(MPI_IN_PLACE, least.data(), int(least.size()), MPI_DOUBLE_INT,
                               MPI_MINLOC, comm);
  if (rc != MPI_SUCCESS) return parallel::MpiError(rc, "MPI_Allreduce (least wait per step)");
  LeastWaits out;
  for (const ValueRank& v : least) {
    out.seconds.push_back(v.value);
    out.ranks.push_back(v.rank);
  }
  return out;
}

absl::StatusOr<std::vector<BucketTraceRow>> GatherCommTrace(
    MPI_Comm comm, const std::vector<std::vector<parallel::BucketSpan>>& steps,
    const std::vector<int>& last_ranks) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int n_steps = int(steps.size());
  if (last_ranks.size() != steps.size()) {
    return absl::InternalError("comm trace: one rank per step expected");
  }
  int width = 0;
  for (const auto& step : steps) width = std::max(width, int(step.size()));
  int rc = MPI_Allreduce(MPI_IN_PLACE, &width, 1, MPI_INT, MPI_MAX, comm);
  if (rc != MPI_SUCCESS) return parallel::MpiError(rc, "MPI_Allreduce (comm trace)");
  // Every rank's spans, padded with NaN to `width` per step.
  const int per_rank = n_steps * width * kFields;
  std::vector<double> flat(per_rank, std::numeric_limits<double>::quiet_NaN());
  for (int s = 0; s < n_steps; ++s) {
    for (size_t j = 0; j < steps[s].size(); ++j) {
      const parallel::BucketSpan& b = steps[s][j];
      double* f = &flat[(s * width + int(j)) * kFields];
      f[0] = b.index;
      f[1] = double(b.floats);
      f[2] = b.row_sparse ? 1 : 0;
      f[3] = b.start;
      f[4] = b.end;
    }
  }
  std::vector<double> all(rank == 0 ? size_t(per_rank) * size : 0);
  rc = MPI_Gather(flat.data(), per_rank, MPI_DOUBLE, all.data(), per_rank, MPI_DOUBLE, 0, comm);
  if (rc != MPI_SUCCESS) return parallel::MpiError(rc, "MPI_Gather (comm trace)");
  if (rank != 0) return std::vector<BucketTraceRow>{};
  std::vector<std::vector<parallel::BucketSpan>> chosen(n_steps);
  for (int s = 0; s < n_steps; ++s) {
    const double* base = &all[size_t(last_ranks[s]) * per_rank];
    for (int j = 0; j < width; ++j) {
      const double* f = base + (s * width + j) * kFields;
      if (std::isnan(f[0])) continue;
      chosen[s].push_back({int(f[0]), int64_t(f[1]), f[2] != 0, f[3], f[4]});
    }
  }
  return SummarizeCommTrace(chosen);
}

std::string FormatCommTrace(const std::vector<BucketTraceRow>& rows) {
  std::string out =
      "gradient buckets, ms from the end of backward on the rank that ended it last "
      "(median of the timed steps, min..max):\n";
  absl::StrAppend(&out, absl::StrFormat("%6s | %7s | %-10s | %-25s | %-25s\n", "bucket", "MB",
                                        "kind", "start", "end"));
  for (const BucketTraceRow& r : rows) {
    absl::StrAppend(
        &out, absl::StrFormat("%6d | %7.2f | %-10s | %8.1f (%6.1f..%6.1f) | %8.1f (%6.1f..%6.1f)\n",
                              r.index, double(r.floats) * 4 / (1 << 20),
                              r.row_sparse ? "row-sparse" : "dense", r.start_ms, r.start_min,
                              r.start_max, r.end_ms, r.end_min, r.end_max));
  }
  return out;
}

std::string CommTraceJson(const std::vector<BucketTraceRow>& rows) {
  std::string out = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const BucketTraceRow& r = rows[i];
    absl::StrAppend(&out, i ? ", " : "",
                    absl::StrFormat("{\"bucket\": %d, \"mb\": %.3f, \"row_sparse\": %s, "
                                    "\"start_ms\": %.2f, \"end_ms\": %.2f}",
                                    r.index, double(r.floats) * 4 / (1 << 20),
                                    r.row_sparse ? "true" : "false", r.start_ms, r.end_ms));
  }
  return out + "]";
}

}  // namespace hs::train
