// File: parallel/mpi_env.cc — see mpi_env.h.
#include "parallel/mpi_env.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "haiscale/logging.h"

namespace hs::parallel {
namespace {

bool g_started = false;
int g_rank = 0, g_size = 1;

}  // namespace

bool LaunchedUnderMpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

absl::Status MpiError(int code, const std::string& what) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return absl::InternalError(absl::StrCat(what, " failed: ", std::string(text, len)));
}

absl::Status MpiEnv::Init(int* argc, char*** argv) {
  if (g_started || !LaunchedUnderMpi()) return absl::OkStatus();
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Init_thread");
    if (provided < MPI_THREAD_MULTIPLE) {
      return absl::FailedPreconditionError(
          "this MPI does not provide MPI_THREAD_MULTIPLE, which HFReduce and DDP need");
    }
  }
  // Errors come back as codes; we turn them into Status and abort cleanly.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_started = true;
  SetLogRank(g_rank);
  return absl::OkStatus();
}

void MpiEnv::Finalize() {
  if (!g_started) return;
  MPI_Finalize();
  g_started = false;
}

bool MpiEnv::active() { return g_started; }
int MpiEnv::rank() { return g_rank; }
int MpiEnv::size() { return g_size; }
MPI_Comm MpiEnv::world() { return g_started ? MPI_COMM_WORLD : MPI_COMM_NULL; }

int RanksOnThisMachine() {
  if (!g_started) return 1;
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node);
  int n = 1;
  MPI_Comm_size(node, &n);
  MPI_Comm_free(&node);
  return n;
}

void AbortJob(const absl::Status& status, int exit_code) {
  if (g_started) {
    std::fprintf(stderr, "[rank %d] hai: %s\n[rank %d] aborting the job\n", g_rank,
                 std::string(status.message()).c_str(), g_rank);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  } else {
    std::fprintf(stderr, "hai: %s\n", std::string(status.message()).c_str());
    std::fflush(stderr);
  }
  std::exit(exit_code);
}

absl::Status AllSumInRankOrder(MPI_Comm comm, double* values, int n) {
  if (comm == MPI_COMM_NULL) return absl::OkStatus();
  int size = 1;
  MPI_Comm_size(comm, &size);
  std::vector<double> all(size_t(size) * n);
  int rc = MPI_Allgather(values, n, MPI_DOUBLE, all.data(), n, MPI_DOUBLE, comm);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Allgather");
  for (int i = 0; i < n; ++i) {
    double sum = 0;
    for (int r = 0; r < size; ++r) sum += all[size_t(r) * n + i];
    values[i] = sum;
  }
  return absl::OkStatus();
}

}  // namespace hs::parallel
