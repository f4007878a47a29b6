// File: haiscale/threads.cc — see threads.h.
#include "haiscale/threads.h"

#include <omp.h>
#include <sched.h>

#ifdef HS_HAVE_OPENBLAS
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace hs {

void SetNumThreads(int n) {
  if (n <= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    n = (sched_getaffinity(0, sizeof(set), &set) == 0) ? CPU_COUNT(&set)
                                                       : omp_get_num_procs();
    if (n <= 0) n = 1;
  }
  omp_set_num_threads(n);
#ifdef HS_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#endif
}

int NumThreads() { return omp_get_max_threads(); }

}  // namespace hs
