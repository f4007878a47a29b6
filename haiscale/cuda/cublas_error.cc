// File: haiscale/cuda/cublas_error.cc
//
// cublasStatus_t -> absl::Status (names and texts from cuBLAS itself).
#include "haiscale/cuda/cublas_error.h"

#include "absl/strings/str_cat.h"

namespace hs::cuda {

absl::StatusCode CublasStatusCode(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS:
      return absl::StatusCode::kOk;
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::StatusCode::kResourceExhausted;
    case CUBLAS_STATUS_NOT_INITIALIZED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return absl::StatusCode::kFailedPrecondition;
    case CUBLAS_STATUS_INVALID_VALUE:
      return absl::StatusCode::kInvalidArgument;
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status CublasStatusToStatus(cublasStatus_t st, const char* call,
                                  const char* file, int line) {
  if (st == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::Status(
      CublasStatusCode(st),
      absl::StrCat(call, " at ", file, ":", line, ": ", cublasGetStatusName(st),
                   ": ", cublasGetStatusString(st)));
}

}  // namespace hs::cuda
