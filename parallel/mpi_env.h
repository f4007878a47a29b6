// File: parallel/mpi_env.h
//
// The MPI world of a `hai` process. A process started by mpirun (or any
// launcher that sets OMPI_COMM_WORLD_SIZE / PMI_SIZE) initialises MPI with
// MPI_THREAD_MULTIPLE (HFReduce's progress thread and DDP's communication
// thread call MPI); a plain process runs as world size 1 without MPI.
//
// A rank that fails calls AbortJob: it prints the error tagged with its
// rank and MPI_Abort()s the whole job, so the other ranks exit within
// seconds instead of waiting forever in a collective.
#ifndef PARALLEL_MPI_ENV_H_
#define PARALLEL_MPI_ENV_H_

#include <mpi.h>

#include <string>

#include "absl/status/status.h"

namespace hs::parallel {

class MpiEnv {
 public:
  // Init(argc, argv): initialises MPI when launched under MPI; idempotent.
  static absl::Status Init(int* argc, char*** argv);
  // Finalize(): MPI_Finalize when Init started MPI.
  static void Finalize();
  static bool active();
  static int rank();
  static int size();
  // World communicator (MPI_COMM_WORLD; MPI_COMM_NULL without MPI).
  static MPI_Comm world();
};

// LaunchedUnderMpi(): the environment says this process is one of several.
bool LaunchedUnderMpi();

// RanksOnThisMachine(): the world ranks sharing this machine's memory (MPI's
// shared-memory split; 1 without MPI). Collective over the world.
int RanksOnThisMachine();

// AbortJob(status, exit_code): prints "[rank r] hai: <message>" to stderr and
// aborts every rank (MPI_Abort) or exits this process (no MPI).
[[noreturn]] void AbortJob(const absl::Status& status, int exit_code);

// MpiError(code, what): an absl::Status naming the MPI call and its error.
absl::Status MpiError(int code, const std::string& what);

// AllSumInRankOrder(comm, values, n): every rank gets the sum over ranks of
// values[0..n), added in rank order (bit-identical on all ranks, unlike a
// reduction whose order depends on the algorithm). In place.
absl::Status AllSumInRankOrder(MPI_Comm comm, double* values, int n);

}  // namespace hs::parallel

#endif  // PARALLEL_MPI_ENV_H_
