// File: hfreduce/bench/bench_flags.h
//
// What the HFReduce benchmarks (bench allreduce / reducescatter / allgather)
// share: their common flags, parsed into sizes, a dtype and Communicator
// Options, interleaved timing rounds, and MPI's missing bf16 sum.
//
// Usage:
//   cli::ArgParser p("hai bench allgather");
//   AddBenchFlags(&p, "64M");
//   ... p.Parse(argc, argv) ...
//   absl::StatusOr<BenchArgs> a = ParseBenchFlags(p);
#ifndef HFREDUCE_BENCH_BENCH_FLAGS_H_
#define HFREDUCE_BENCH_BENCH_FLAGS_H_

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/cli/args.h"
#include "haiscale/dtype.h"
#include "haiscale/round_stats.h"
#include "hfreduce/hfreduce.h"

namespace hs::hfreduce {

struct BenchArgs {
  int64_t min_bytes = 0, max_bytes = 0;
  DType dtype = DType::kF32;
  bool csv = false;
  int64_t iters = 0, warmup = 0;
  int64_t rounds = 1;  // timed loops of each backend per size (--rounds)
  Options options;  // ranks_per_node, chunks, timeout, transport, inline_blocking
};

// AddBenchFlags(p, max_bytes): ranks-per-node, min/max-bytes, dtype, csv,
// iters, warmup, rounds, chunk-bytes, tree-chunk-bytes, timeout-s,
// transport, tcp-iface, pair-exchange-bytes, no-inline.
void AddBenchFlags(cli::ArgParser* p, const char* max_bytes);

// ParseBytesOrOff(text): ParseByteSize, or 0 for "0" (a size limit that is
// off).
absl::StatusOr<int64_t> ParseBytesOrOff(const std::string& text);

// ParseBenchFlags(p): the flags above, checked (f32 or bf16 only).
absl::StatusOr<BenchArgs> ParseBenchFlags(const cli::ArgParser& p);

// Per-round seconds of HFReduce's and MPI's timed loops at one size.
struct RoundTimes {
  std::vector<double> hf, mpi;
  // Median times, and the per-round ratios (HFReduce's speed over MPI's:
  // mpi / hf) with their median and range.
  double HfMedian() const;
  double MpiMedian() const;
  RoundComparison Speedup() const;
};

// TimeRounds(rounds, hf_loop, mpi_loop): calls each loop (returning the
// seconds per call of one timed loop) `rounds` times, alternating which
// goes first (HFReduce in even rounds), so a drift of the machine's speed
// within a size does not favour either. Stops early when hf_failed().
template <typename Hf, typename Mpi, typename Failed>
RoundTimes TimeRounds(int64_t rounds, Hf hf_loop, Mpi mpi_loop, Failed hf_failed) {
  RoundTimes t;
  for (int64_t r = 0; r < rounds && !hf_failed(); ++r) {
    double h = 0, m = 0;
    if (r % 2 == 0) {
      h = hf_loop();
      m = mpi_loop();
    } else {
      m = mpi_loop();
      h = hf_loop();
    }
    t.hf.push_back(h);
    t.mpi.push_back(m);
  }
  return t;
}

// RoundsComment(nbytes, t): "# 1M: 8 rounds, ratio per round 0.81-1.12\n"
// (a comment line, so the CSV keeps its columns); empty for one round.
std::string RoundsComment(int64_t nbytes, const RoundTimes& t);

// Bf16SumOp: an MPI_Op function adding bf16 in f32 and rounding.
void Bf16SumOp(void* in, void* inout, int* len, MPI_Datatype* type);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_BENCH_BENCH_FLAGS_H_
