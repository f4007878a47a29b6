// File: haiscale/cuda/nccl_error.cc
//
// ncclResult_t -> absl::Status. ncclInProgress (non-blocking communicators)
// maps to Unavailable: the caller polls again.
#include "haiscale/cuda/nccl_error.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace hs::cuda {

absl::StatusCode NcclResultCode(ncclResult_t r) {
  switch (r) {
    case ncclSuccess:
      return absl::StatusCode::kOk;
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return absl::StatusCode::kInvalidArgument;
    case ncclSystemError:
    case ncclRemoteError:
    case ncclInProgress:
      return absl::StatusCode::kUnavailable;
    default:  // ncclUnhandledCudaError, ncclInternalError
      return absl::StatusCode::kInternal;
  }
}

absl::Status NcclResultToStatus(ncclResult_t r, const char* call,
                                const char* file, int line) {
  if (r == ncclSuccess) return absl::OkStatus();
  std::string msg =
      absl::StrCat(call, " at ", file, ":", line, ": ", ncclGetErrorString(r));
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && std::strlen(last) > 0) absl::StrAppend(&msg, " (", last, ")");
  return absl::Status(NcclResultCode(r), msg);
}

}  // namespace hs::cuda
