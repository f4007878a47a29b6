// File: haiscale/threads.h
//
// One knob for CPU parallelism: OpenMP loops in our kernels and OpenBLAS's
// GEMM threads share the same count (OpenBLAS is the OpenMP build, see
// tools/setup.sh), so `--threads N` means N cores, not N squared.
#ifndef HAISCALE_THREADS_H_
#define HAISCALE_THREADS_H_

namespace hs {

// SetNumThreads(n): n <= 0 means "all cores of this process's affinity".
void SetNumThreads(int n);

// NumThreads(): the current count.
int NumThreads();

}  // namespace hs

#endif  // HAISCALE_THREADS_H_
