// File: haiscale/cuda/library_error_test.cc
//
// cuBLAS and NCCL status -> absl::Status mapping (no GPU needed). Kept
// apart from runtime_test so the GPU bundle need not carry cuBLAS/NCCL.
#include "gtest/gtest.h"
#include "haiscale/cuda/cublas_error.h"
#include "haiscale/cuda/nccl_error.h"

namespace hs::cuda {
namespace {

TEST(CudaErrorTest, CublasAndNccl) {
  absl::Status b = HS_CUBLAS_STATUS(CUBLAS_STATUS_ALLOC_FAILED);
  EXPECT_TRUE(absl::IsResourceExhausted(b)) << b;
  EXPECT_NE(b.message().find("CUBLAS_STATUS_ALLOC_FAILED"), std::string::npos) << b;
  EXPECT_TRUE(HS_CUBLAS_STATUS(CUBLAS_STATUS_SUCCESS).ok());
  absl::Status n = HS_NCCL_STATUS(ncclInvalidArgument);
  EXPECT_TRUE(absl::IsInvalidArgument(n)) << n;
  EXPECT_NE(n.message().find("ncclInvalidArgument at "), std::string::npos) << n;
  EXPECT_TRUE(absl::IsUnavailable(HS_NCCL_STATUS(ncclRemoteError)));
}

}  // namespace
}  // namespace hs::cuda
