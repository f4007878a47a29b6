// File: haiscale/cuda/cublas_error.h
//
// cuBLAS / cuBLASLt status codes as absl::Status, naming the call and
// file:line (same shape as error.h).
//
// Usage:
//   HS_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle, desc, ...));
#ifndef HAISCALE_CUDA_CUBLAS_ERROR_H_
#define HAISCALE_CUDA_CUBLAS_ERROR_H_

#include <cublas_api.h>

#include "absl/status/status.h"

namespace hs::cuda {

// CublasStatusCode(st): the absl code for a cublasStatus_t.
absl::StatusCode CublasStatusCode(cublasStatus_t st);

// CublasStatusToStatus(st, call, file, line): OK for CUBLAS_STATUS_SUCCESS,
// else "<call> at <file>:<line>: CUBLAS_STATUS_...: <description>".
absl::Status CublasStatusToStatus(cublasStatus_t st, const char* call,
                                  const char* file, int line);

}  // namespace hs::cuda

// HS_CUBLAS_STATUS(call): the call's result as an absl::Status.
#define HS_CUBLAS_STATUS(call) \
  ::hs::cuda::CublasStatusToStatus((call), #call, __FILE__, __LINE__)

// HS_CUBLAS_RETURN_IF_ERROR(call): returns the Status on failure.
#define HS_CUBLAS_RETURN_IF_ERROR(call)                                \
  do {                                                                 \
    const cublasStatus_t hs_cublas_st_ = (call);                       \
    if (hs_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                      \
      return ::hs::cuda::CublasStatusToStatus(hs_cublas_st_, #call,    \
                                              __FILE__, __LINE__);     \
    }                                                                  \
  } while (0)

#endif  // HAISCALE_CUDA_CUBLAS_ERROR_H_
