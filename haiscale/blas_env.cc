// File: haiscale/blas_env.cc — see blas_env.h.
#include "haiscale/blas_env.h"

#include <unistd.h>

#include <cstdlib>

namespace hs {

const char* BlasCoreTypeForThisCpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512cd")) {
    return "SKYLAKEX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "HASWELL";
  return nullptr;
}

void EnsureBlasCoreType(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  if (const char* off = std::getenv("HS_NO_BLAS_REEXEC"); off != nullptr && off[0] == '1') return;
  const char* core = BlasCoreTypeForThisCpu();
  if (core == nullptr) return;
  setenv("OPENBLAS_CORETYPE", core, 1);
  // Same pid, same arguments; MPI is not initialised yet, so launchers
  // (mpirun/PMIx) see the same process.
  execv("/proc/self/exe", argv);
}

}  // namespace hs
