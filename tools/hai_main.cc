// File: tools/hai_main.cc — the `hai` binary: dispatches to the subcommands
// registered by the libraries it links (see haiscale/cli/subcommand.h).
// Under mpirun MPI is initialised first (parallel/mpi_env.h).
#include "haiscale/blas_env.h"
#include "haiscale/cli/subcommand.h"
#include "parallel/mpi_env.h"

int main(int argc, char** argv) {
  // OpenBLAS must see the right kernel type before it loads (blas_env.h).
  hs::EnsureBlasCoreType(argv);
  absl::Status s = hs::parallel::MpiEnv::Init(&argc, &argv);
  if (!s.ok()) hs::parallel::AbortJob(s, 1);
  int rc = hs::cli::RunMain(argc, argv);
  hs::parallel::MpiEnv::Finalize();
  return rc;
}
