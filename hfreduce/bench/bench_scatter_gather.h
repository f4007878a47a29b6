// File: hfreduce/bench/bench_scatter_gather.h
//
// `hai bench reducescatter` and `hai bench allgather`: HFReduce's
// ReduceScatter / AllGather against MPI_Reduce_scatter_block / MPI_Allgather
// on the same buffers in the same run, nccl-tests columns (size = bytes of
// the whole vector, i.e. send for ReduceScatter and recv for AllGather;
// algbw = size / time; busbw = algbw * (n-1)/n), the HFReduce/MPI ratio and
// a check of every result. Run it under mpirun:
//
//   mpirun -np 4 hai bench reducescatter --ranks-per-node 2 --max-bytes 64M
//   mpirun -np 4 hai bench allgather --ranks-per-node 2 --csv
//
// With --csv rank 0 prints the same columns as `hai bench allreduce --csv`:
//   bytes,hfreduce_time_us,hfreduce_busbw_gbs,mpi_time_us,mpi_busbw_gbs,ratio
#ifndef HFREDUCE_BENCH_BENCH_SCATTER_GATHER_H_
#define HFREDUCE_BENCH_BENCH_SCATTER_GATHER_H_

namespace hs::hfreduce {

// RunBenchReduceScatter / RunBenchAllGather(argc, argv): the subcommands.
int RunBenchReduceScatter(int argc, char** argv);
int RunBenchAllGather(int argc, char** argv);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_BENCH_BENCH_SCATTER_GATHER_H_
