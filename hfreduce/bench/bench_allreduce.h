// File: hfreduce/bench/bench_allreduce.h
//
// `hai bench allreduce`: HFReduce against MPI_Allreduce on the same buffers
// in the same run, nccl-tests columns (size count type time_us algbw busbw
// #wrong; busbw = algbw * 2(n-1)/n), the ratio HFReduce/MPI of busbw, and a
// check of every result. Run it under mpirun:
//
//   mpirun -np 4 hai bench allreduce --ranks-per-node 2 --max-bytes 64M
//   mpirun -np 2 hai bench allreduce --dtype bf16 --csv
//   mpirun -np 4 hai bench allreduce --ranks-per-node 2 --transport tcp --tcp-iface lo
//
// With --csv rank 0 prints
//   bytes,hfreduce_time_us,hfreduce_busbw_gbs,mpi_time_us,mpi_busbw_gbs,ratio
// and one row per size. The library registers the subcommand itself
// (alwayslink); this header only exposes the entry point.
#ifndef HFREDUCE_BENCH_BENCH_ALLREDUCE_H_
#define HFREDUCE_BENCH_BENCH_ALLREDUCE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace hs::hfreduce {

// RunBenchAllreduce(argc, argv): the subcommand; argv[0] is its name.
int RunBenchAllreduce(int argc, char** argv);

// FormatBytes(4096) == "4K": the size column of the benchmark tables.
std::string FormatBytes(int64_t bytes);

// CpuModel(): the CPU's model name from /proc/cpuinfo, for table headers.
std::string CpuModel();

// ParseByteSize("4K") == 4096: a count with optional K/M/G (powers of 1024).
absl::StatusOr<int64_t> ParseByteSize(const std::string& text);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_BENCH_BENCH_ALLREDUCE_H_
