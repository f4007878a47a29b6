// File: hfreduce/bench/bench_flags.h
//
// What the HFReduce benchmarks (bench allreduce / reducescatter / allgather)
// share: their common flags, parsed into sizes, a dtype and Communicator
// Options, and MPI's missing bf16 sum.
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

#include "absl/status/statusor.h"
#include "haiscale/cli/args.h"
#include "haiscale/dtype.h"
#include "hfreduce/hfreduce.h"

namespace hs::hfreduce {

struct BenchArgs {
  int64_t min_bytes = 0, max_bytes = 0;
  DType dtype = DType::kF32;
  bool csv = false;
  int64_t iters = 0, warmup = 0;
  Options options;  // ranks_per_node, chunks, timeout, transport
};

// AddBenchFlags(p, max_bytes): ranks-per-node, min/max-bytes, dtype, csv,
// iters, warmup, chunk-bytes, tree-chunk-bytes, timeout-s, transport,
// tcp-iface, pair-exchange-bytes.
void AddBenchFlags(cli::ArgParser* p, const char* max_bytes);

// ParseBytesOrOff(text): ParseByteSize, or 0 for "0" (a size limit that is
// off).
absl::StatusOr<int64_t> ParseBytesOrOff(const std::string& text);

// ParseBenchFlags(p): the flags above, checked (f32 or bf16 only).
absl::StatusOr<BenchArgs> ParseBenchFlags(const cli::ArgParser& p);

// Bf16SumOp: an MPI_Op function adding bf16 in f32 and rounding.
void Bf16SumOp(void* in, void* inout, int* len, MPI_Datatype* type);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_BENCH_BENCH_FLAGS_H_
