// File: parallel/nccl/nccl_comm_cuda_test.cc
//
// NcclComm on a real GPU, one process (a group of one: NCCL sends to and
// receives from itself): AllToAllV with the plan's offsets, SendRecv, and
// Wait. Prints "SKIPPED: no CUDA device (...)" and exits 0 without a GPU,
// like the kernel parity tests. The multi-rank exchange logic on the CPU
// is covered by tests/parity (the MPI path) and exchange_plan_test.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "haiscale/cuda/device.h"
#include "haiscale/cuda/error.h"
#include "haiscale/cuda/nccl_error.h"
#include "parallel/nccl/nccl_comm.h"

namespace hs::parallel {
namespace {

int Run() {
  auto count = hs::cuda::DeviceCount();
  if (!count.ok() || *count == 0) {
    std::printf("nccl_comm_cuda_test: SKIPPED: no CUDA device (%s)\n",
                count.ok() ? "0 devices" : std::string(count.status().message()).c_str());
    return 0;
  }
  ncclUniqueId id;
  absl::Status s = HS_NCCL_STATUS(ncclGetUniqueId(&id));
  if (!s.ok()) {
    std::printf("nccl_comm_cuda_test: FAILED: %s\n", s.ToString().c_str());
    return 1;
  }
  auto comm = NcclComm::CreateFromId(id, 0, 1, 0);
  if (!comm.ok()) {
    std::printf("nccl_comm_cuda_test: FAILED: %s\n", comm.status().ToString().c_str());
    return 1;
  }
  cudaStream_t stream;
  HS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const int64_t n = (3 << 20) + 7;  // bytes, not a multiple of anything
  std::vector<unsigned char> host(n), back(n, 0);
  for (int64_t i = 0; i < n; ++i) host[i] = static_cast<unsigned char>(i * 131 + 7);
  void *dsend = nullptr, *drecv = nullptr;
  HS_CUDA_CHECK(cudaMalloc(&dsend, n));
  HS_CUDA_CHECK(cudaMalloc(&drecv, n + 64));
  HS_CUDA_CHECK(cudaMemcpy(dsend, host.data(), n, cudaMemcpyHostToDevice));
  bool ok = true;
  auto plan = ExchangePlan::FromCounts({n}, {n}, 1, 0);
  // Receive at offset 64 to check the plan's offsets are honoured.
  plan->recvs[0].offset = 64;
  s = (*comm)->AllToAllV(dsend, drecv, *plan, stream);
  if (s.ok()) s = (*comm)->Wait(stream, absl::Seconds(30));
  if (s.ok()) {
    HS_CUDA_CHECK(cudaMemcpy(back.data(), static_cast<char*>(drecv) + 64, n,
                             cudaMemcpyDeviceToHost));
    ok &= std::memcmp(back.data(), host.data(), n) == 0;
    std::printf("  all-to-all-v (self, %lld bytes): %s\n", static_cast<long long>(n),
                ok ? "OK" : "DIFFERS");
  } else {
    std::printf("  all-to-all-v: %s\n", s.ToString().c_str());
    ok = false;
  }
  HS_CUDA_CHECK(cudaMemset(drecv, 0, n + 64));
  s = (*comm)->SendRecv(dsend, n, 0, drecv, n, 0, stream);
  if (s.ok()) s = (*comm)->Wait(stream, absl::Seconds(30));
  if (s.ok()) {
    HS_CUDA_CHECK(cudaMemcpy(back.data(), drecv, n, cudaMemcpyDeviceToHost));
    const bool same = std::memcmp(back.data(), host.data(), n) == 0;
    std::printf("  send/recv (self): %s\n", same ? "OK" : "DIFFERS");
    ok &= same;
  } else {
    std::printf("  send/recv: %s\n", s.ToString().c_str());
    ok = false;
  }
  absl::Status bad = (*comm)->SendRecv(dsend, n, 3, nullptr, 0, -1, stream);
  const bool named = !bad.ok() && bad.ToString().find("peer 3") != std::string::npos;
  std::printf("  bad peer rejected: %s\n", named ? "OK" : bad.ToString().c_str());
  ok &= named;
  cudaFree(dsend);
  cudaFree(drecv);
  cudaStreamDestroy(stream);
  std::printf("nccl_comm_cuda_test: %s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace hs::parallel

int main() { return hs::parallel::Run(); }
