// File: haiscale/cuda/error.h
//
// CUDA runtime errors as absl::Status. Every failing call becomes a Status
// that names the call, the file:line and the CUDA error's name and text:
//   "cudaMalloc(&ptr, bytes) at haiscale/cuda/cuda_allocator.cc:40:
//    cudaErrorMemoryAllocation: out of memory"
// with a code that says what kind of failure it was (ResourceExhausted for
// out-of-memory, FailedPrecondition for "no device / no driver", ...).
// cuBLAS and NCCL have the same shape in cublas_error.h and nccl_error.h.
//
// Usage:
//   absl::Status Copy(void* dst, const void* src, size_t n, cudaStream_t s) {
//     HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, s));
//     return absl::OkStatus();
//   }
//   absl::Status s = HS_CUDA_STATUS(cudaDeviceSynchronize());
//   HS_CUDA_CHECK(cudaStreamDestroy(s));   // programmer bugs / destructors
#ifndef HAISCALE_CUDA_ERROR_H_
#define HAISCALE_CUDA_ERROR_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace hs::cuda {

// CudaErrorCode(err): the absl code for a CUDA runtime error.
absl::StatusCode CudaErrorCode(cudaError_t err);

// CudaErrorToStatus(err, call, file, line): OK for cudaSuccess; otherwise a
// Status "<call> at <file>:<line>: <cudaErrorName>: <description>".
absl::Status CudaErrorToStatus(cudaError_t err, const char* call,
                               const char* file, int line);

// CudaCheckFailed: prints the error and aborts (HS_CUDA_CHECK).
[[noreturn]] void CudaCheckFailed(cudaError_t err, const char* call,
                                  const char* file, int line);

}  // namespace hs::cuda

// HS_CUDA_STATUS(call): the call's result as an absl::Status.
#define HS_CUDA_STATUS(call) \
  ::hs::cuda::CudaErrorToStatus((call), #call, __FILE__, __LINE__)

// HS_CUDA_RETURN_IF_ERROR(call): returns the Status from the enclosing
// function when `call` does not return cudaSuccess.
#define HS_CUDA_RETURN_IF_ERROR(call)                                   \
  do {                                                                  \
    const cudaError_t hs_cuda_err_ = (call);                            \
    if (hs_cuda_err_ != cudaSuccess) {                                  \
      return ::hs::cuda::CudaErrorToStatus(hs_cuda_err_, #call, __FILE__, \
                                           __LINE__);                   \
    }                                                                   \
  } while (0)

// HS_CUDA_CHECK(call): aborts with the same message on failure. Only for
// programmer errors and places that cannot return a Status (destructors).
#define HS_CUDA_CHECK(call)                                                 \
  do {                                                                      \
    const cudaError_t hs_cuda_err_ = (call);                                \
    if (hs_cuda_err_ != cudaSuccess) {                                      \
      ::hs::cuda::CudaCheckFailed(hs_cuda_err_, #call, __FILE__, __LINE__); \
    }                                                                       \
  } while (0)

#endif  // HAISCALE_CUDA_ERROR_H_
