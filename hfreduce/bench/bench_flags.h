// File: hfreduce/bench/bench_flags.h
//
// What the HFReduce benchmarks (bench allreduce / reducescatter / allgather)
// share: their common flags, parsed into sizes, a dtype and Communicator
// Options (and --against's second Options), interleaved timing rounds with
// each loop's CPU time, the table and CSV rows, and MPI's missing bf16 sum.
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
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/cli/args.h"
#include "haiscale/dtype.h"
#include "haiscale/round_stats.h"
#include "haiscale/thread_priority.h"
#include "hfreduce/hfreduce.h"

namespace hs::hfreduce {

struct BenchArgs {
  int64_t min_bytes = 0, max_bytes = 0;
  DType dtype = DType::kF32;
  bool csv = false;
  int64_t iters = 0, warmup = 0;
  int64_t rounds = 1;  // timed loops of each backend per size (--rounds)
  Options options;  // ranks_per_node, chunks, timeout, transport, inline_blocking
  // --against NAME=VALUE (repeatable): a second HFReduce communicator with
  // these options changed, timed in the same rounds (AgainstOptions).
  std::vector<std::string> against;
};

// AddBenchFlags(p, max_bytes): ranks-per-node, min/max-bytes, dtype, csv,
// iters, warmup, rounds, chunk-bytes, min-chunk-bytes, tree-chunk-bytes,
// tree-window, pipeline-depth, timeout-s, transport, tcp-iface,
// pair-exchange-bytes, no-inline, against.
void AddBenchFlags(cli::ArgParser* p, const char* max_bytes);

// ParseBytesOrOff(text): ParseByteSize, or 0 for "0" (a size limit that is
// off).
absl::StatusOr<int64_t> ParseBytesOrOff(const std::string& text);

// AgainstOptions(base, sets): base with each "name=value" of sets applied,
// the names those of the benchmark's HFReduce flags: chunk-bytes,
// min-chunk-bytes, tree-chunk-bytes, pair-exchange-bytes, small-bytes
// (sizes as the flags take them, 0 for off where the flag allows it),
// tree-window (>= 1) and pipeline-depth (>= 2), inline (true or false) and
// transport (mpi or tcp). InvalidArgument naming the setting otherwise.
absl::StatusOr<Options> AgainstOptions(const Options& base, const std::vector<std::string>& sets);

// CreateOrAbort(o, what): Communicator::Create over MPI_COMM_WORLD; on an
// error every rank prints "[rank R] <what><error>" and the job is aborted
// (the benchmarks cannot go on without it). `what` is "" for the first
// communicator, "--against: " for the second.
std::unique_ptr<Communicator> CreateOrAbort(const Options& o, const char* what);

// SumOverRanks(local): local summed over MPI_COMM_WORLD; every rank calls it.
int64_t SumOverRanks(int64_t local);

// AgainstWrong(local_wrong, at): the --against communicator's wrong elements
// summed over the ranks; rank 0 prints "--against: N wrong elements at <at>"
// when there are any. Every rank calls it.
int64_t AgainstWrong(int64_t local_wrong, const std::string& at);

// ParseBenchFlags(p): the flags above, checked (f32 or bf16 only).
absl::StatusOr<BenchArgs> ParseBenchFlags(const cli::ArgParser& p);

// One timed loop of a backend: seconds per call (the slowest rank's), and
// what the loop cost this process per call: the CPU time of all its threads
// (user + system, the progress thread included) and its context switches.
// Where ranks outnumber cores (simulated nodes on one machine) the backends
// compete for CPU time, and a call's wall time is about ranks / cores times
// its CPU time: the CPU time is the steadier measure of the two there.
struct LoopSample {
  double seconds = 0;
  double cpu_us = 0;
  double switches = 0;
};

// TimeLoop(calls, fn): a barrier, then `calls` calls of fn, timed. Every
// rank calls it (the slowest rank's time is agreed with an allreduce).
template <typename Fn>
LoopSample TimeLoop(int64_t calls, Fn fn) {
  MPI_Barrier(MPI_COMM_WORLD);
  const ThreadUsage start = ThisProcessUsage();
  const double t0 = MPI_Wtime();
  for (int64_t i = 0; i < calls; ++i) fn();
  LoopSample s;
  s.seconds = (MPI_Wtime() - t0) / calls;
  const ThreadUsage used = ThisProcessUsage() - start;
  s.cpu_us = used.cpu_seconds * 1e6 / calls;
  s.switches = static_cast<double>(used.switches) / calls;
  MPI_Allreduce(MPI_IN_PLACE, &s.seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return s;
}

// Per-round samples of HFReduce's and MPI's timed loops at one size, and
// of the --against communicator's (empty without it).
struct RoundTimes {
  std::vector<LoopSample> hf, mpi, against;
  // Median seconds per call, and the per-round ratios (HFReduce's speed
  // over MPI's: mpi / hf) with their median and range.
  double HfMedian() const;
  double MpiMedian() const;
  RoundComparison Speedup() const;
  // --against: its median seconds per call; per round, HFReduce's speed
  // over its (against / hf; `higher`: the rounds HFReduce was faster).
  double AgainstMedian() const;
  RoundComparison SpeedupOverAgainst() const;
};

// CPU time and context switches per call of one rank, each loop's median
// over the rounds, then averaged over the ranks.
struct CpuPerCall {
  double hf_us = 0, hf_switches = 0;
  double mpi_us = 0, mpi_switches = 0;
  double against_us = 0, against_switches = 0;
};
// MeanCpuPerCall(t): the above; every rank calls it (an allreduce).
CpuPerCall MeanCpuPerCall(const RoundTimes& t);

// TimeRounds(rounds, hf_loop, mpi_loop, hf_failed[, against_loop]): calls
// each loop (returning the LoopSample of one timed loop) `rounds` times,
// alternating which goes first (HFReduce in even rounds), so a drift of
// the machine's speed within a size does not favour either. The --against
// loop runs right after HFReduce's in even rounds and right before it in
// odd ones: the two HFReduce variants are always neighbours. Stops early
// when hf_failed().
template <typename Hf, typename Mpi, typename Failed>
RoundTimes TimeRounds(int64_t rounds, Hf hf_loop, Mpi mpi_loop, Failed hf_failed,
                      const std::function<LoopSample()>& against_loop = {}) {
  RoundTimes t;
  for (int64_t r = 0; r < rounds && !hf_failed(); ++r) {
    LoopSample h, m, a;
    if (r % 2 == 0) {
      h = hf_loop();
      if (against_loop) a = against_loop();
      m = mpi_loop();
    } else {
      m = mpi_loop();
      if (against_loop) a = against_loop();
      h = hf_loop();
    }
    t.hf.push_back(h);
    t.mpi.push_back(m);
    if (against_loop) t.against.push_back(a);
  }
  return t;
}

// The CSV header of the three benchmarks: one row per size.
inline constexpr char kBenchCsvHeader[] =
    "bytes,hfreduce_time_us,hfreduce_busbw_gbs,mpi_time_us,mpi_busbw_gbs,ratio,"
    "hfreduce_cpu_us,hfreduce_switches,mpi_cpu_us,mpi_switches";

// BenchTableHeader("MPI_Allgather"): the table's two header lines, nccl-tests
// columns per backend plus cpu_us (CpuPerCall) before #wrong.
std::string BenchTableHeader(const char* mpi_name);

// One size's results, as both benchmarks print them.
struct BenchRow {
  int64_t bytes = 0, count = 0;
  DType dtype = DType::kF32;
  double hf_us = 0, hf_algbw = 0, hf_busbw = 0;  // GB/s
  double mpi_us = 0, mpi_algbw = 0, mpi_busbw = 0;
  int64_t hf_wrong = 0, mpi_wrong = 0;
  double ratio = 0;  // median of the rounds' mpi / hf
  CpuPerCall cpu;
};

// MakeBenchRow(...): one size's row from its rounds (median times, busbw =
// algbw x bus_factor, the median ratio, CpuPerCall) and the ranks' summed
// wrong counts. Every rank calls it (MeanCpuPerCall is collective).
BenchRow MakeBenchRow(int64_t bytes, int64_t count, DType dtype, double bus_factor,
                      const RoundTimes& t, int64_t hf_wrong, int64_t mpi_wrong);

// FormatBenchRow(row, csv): a CSV line (kBenchCsvHeader's columns) or a
// table line (BenchTableHeader's), newline included.
std::string FormatBenchRow(const BenchRow& row, bool csv);

// AgainstHeader(sets, other): "# against: pair-exchange-bytes=0 (transport
// mpi), timed next to HFReduce in every round\n" for the header, the second
// communicator as created; empty without one.
std::string AgainstHeader(const std::vector<std::string>& sets, const Communicator* other);

// AgainstComment(nbytes, t, cpu, sets): "# 1M: against
// pair-exchange-bytes=0: 455.2 us, 226 us CPU; HFReduce / against per round
// 1.04x (0.98-1.09), faster in 6 of 8 (sign test p 0.289)\n"; empty without
// --against.
std::string AgainstComment(int64_t nbytes, const RoundTimes& t, const CpuPerCall& cpu,
                           const std::vector<std::string>& sets);

// RoundsComment(nbytes, t): "# 1M: 8 rounds, ratio per round 0.81-1.12, HFReduce
// faster in 5 (sign test p 0.727)\n"
// (a comment line, so the CSV keeps its columns); empty for one round.
std::string RoundsComment(int64_t nbytes, const RoundTimes& t);

// Bf16SumOp: an MPI_Op function adding bf16 in f32 and rounding.
void Bf16SumOp(void* in, void* inout, int* len, MPI_Datatype* type);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_BENCH_BENCH_FLAGS_H_
