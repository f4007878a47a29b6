// File: haiscale/cuda/error.cc
//
// cudaError_t -> absl::Status. The code mapping keeps the categories a
// caller acts on: out of memory (ResourceExhausted: flush caches, smaller
// batch), no usable device/driver (FailedPrecondition: wrong machine or
// CUDA_VISIBLE_DEVICES), bad arguments (InvalidArgument), a kernel fault
// (Internal: the context is lost, the job must exit).
#include "haiscale/cuda/error.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace hs::cuda {

absl::StatusCode CudaErrorCode(cudaError_t err) {
  switch (err) {
    case cudaSuccess:
      return absl::StatusCode::kOk;
    case cudaErrorMemoryAllocation:
      return absl::StatusCode::kResourceExhausted;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorDevicesUnavailable:
    case cudaErrorInitializationError:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
      return absl::StatusCode::kFailedPrecondition;
    case cudaErrorInvalidValue:
    case cudaErrorInvalidDevice:
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidDevicePointer:
    case cudaErrorInvalidMemcpyDirection:
    case cudaErrorInvalidResourceHandle:
      return absl::StatusCode::kInvalidArgument;
    case cudaErrorNotReady:
      return absl::StatusCode::kUnavailable;
    case cudaErrorNotSupported:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status CudaErrorToStatus(cudaError_t err, const char* call,
                               const char* file, int line) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::Status(
      CudaErrorCode(err),
      absl::StrCat(call, " at ", file, ":", line, ": ", cudaGetErrorName(err),
                   ": ", cudaGetErrorString(err)));
}

void CudaCheckFailed(cudaError_t err, const char* call, const char* file,
                     int line) {
  std::fprintf(stderr, "HS_CUDA_CHECK failed: %s\n",
               CudaErrorToStatus(err, call, file, line).ToString().c_str());
  std::abort();
}

}  // namespace hs::cuda
