// File: haiscale/cuda/nccl_error.h
//
// NCCL result codes as absl::Status, naming the call and file:line, plus
// NCCL's own last-error text when it has one (same shape as error.h).
//
// Usage:
//   HS_NCCL_RETURN_IF_ERROR(ncclSend(buf, n, ncclBfloat16, peer, comm, s));
#ifndef HAISCALE_CUDA_NCCL_ERROR_H_
#define HAISCALE_CUDA_NCCL_ERROR_H_

#include <nccl.h>

#include "absl/status/status.h"

namespace hs::cuda {

// NcclResultCode(r): the absl code for an ncclResult_t.
absl::StatusCode NcclResultCode(ncclResult_t r);

// NcclResultToStatus(r, call, file, line): OK for ncclSuccess, else
// "<call> at <file>:<line>: <ncclGetErrorString> (<ncclGetLastError>)".
absl::Status NcclResultToStatus(ncclResult_t r, const char* call,
                                const char* file, int line);

}  // namespace hs::cuda

// HS_NCCL_STATUS(call): the call's result as an absl::Status.
#define HS_NCCL_STATUS(call) \
  ::hs::cuda::NcclResultToStatus((call), #call, __FILE__, __LINE__)

// HS_NCCL_RETURN_IF_ERROR(call): returns the Status on failure.
#define HS_NCCL_RETURN_IF_ERROR(call)                                     \
  do {                                                                    \
    const ncclResult_t hs_nccl_r_ = (call);                               \
    if (hs_nccl_r_ != ncclSuccess) {                                      \
      return ::hs::cuda::NcclResultToStatus(hs_nccl_r_, #call, __FILE__,  \
                                            __LINE__);                    \
    }                                                                     \
  } while (0)

#endif  // HAISCALE_CUDA_NCCL_ERROR_H_
