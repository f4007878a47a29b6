// File: haiscale/blas_env.h
//
// OpenBLAS picks its GEMM kernels from the CPU model it detects at load
// time. On virtual machines that hide the model (e.g. "Intel Xeon
// Processor" with AVX-512) Debian's OpenBLAS 0.3.21 falls back to its SSE3
// "Prescott" kernels, 3x slower than its AVX-512 ones. The choice is made
// in a library constructor, before main, so the only fix is the
// environment: EnsureBlasCoreType() sets OPENBLAS_CORETYPE from the CPU's
// actual features (SKYLAKEX with AVX-512, HASWELL with AVX2+FMA) and
// re-executes the process once. A user's own OPENBLAS_CORETYPE is kept;
// HS_NO_BLAS_REEXEC=1 disables this.
#ifndef HAISCALE_BLAS_ENV_H_
#define HAISCALE_BLAS_ENV_H_

namespace hs {

// BlasCoreTypeForThisCpu(): "SKYLAKEX", "HASWELL" or nullptr.
const char* BlasCoreTypeForThisCpu();

// EnsureBlasCoreType(argv): returns normally when nothing needs doing or
// the re-exec failed (then OpenBLAS keeps its own choice).
void EnsureBlasCoreType(char** argv);

}  // namespace hs

#endif  // HAISCALE_BLAS_ENV_H_
