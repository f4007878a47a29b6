// File: haiscale/cuda/device.cc
//
// Device discovery. cudaGetDeviceCount is the one call that tells "no
// driver" (cudaErrorInsufficientDriver) and "no device" (cudaErrorNoDevice)
// apart without touching a device; both become FailedPrecondition.
#include "haiscale/cuda/device.h"

#include <cuda_runtime_api.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/cuda/cuda_allocator.h"
#include "haiscale/cuda/error.h"
#include "haiscale/status.h"

namespace hs::cuda {
namespace {

std::string VisibleDevicesNote() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return v == nullptr ? std::string(" (CUDA_VISIBLE_DEVICES unset)")
                      : absl::StrCat(" (CUDA_VISIBLE_DEVICES=", v, ")");
}

}  // namespace

std::string DeviceInfo::ToString() const {
  return absl::StrFormat("cuda:%d %s sm_%d%d %d SMs %.1f GiB", index, name,
                         cc_major, cc_minor, sm_count,
                         double(total_memory) / double(int64_t{1} << 30));
}

absl::StatusOr<int> DeviceCount() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error for later calls
    absl::Status s = CudaErrorToStatus(err, "cudaGetDeviceCount(&count)",
                                       __FILE__, __LINE__);
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA device: ", s.message(), VisibleDevicesNote()));
  }
  if (count == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA device: cudaGetDeviceCount returned 0",
                     VisibleDevicesNote()));
  }
  return count;
}

absl::StatusOr<DeviceInfo> GetDeviceInfo(int index) {
  HS_ASSIGN_OR_RETURN(int count, DeviceCount());
  if (index < 0 || index >= count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA device ", index, " requested but ", count, " visible",
        VisibleDevicesNote()));
  }
  cudaDeviceProp prop;
  HS_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, index));
  DeviceInfo info;
  info.index = index;
  info.name = prop.name;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.sm_count = prop.multiProcessorCount;
  info.total_memory = int64_t(prop.totalGlobalMem);
  info.shared_memory_per_block_optin = int64_t(prop.sharedMemPerBlockOptin);
  return info;
}

absl::StatusOr<DevicePeaks> GetDevicePeaks(int index) {
  int mem_khz = 0, bus_bits = 0, sm_khz = 0, sms = 0, major = 0, minor = 0;
  HS_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, index));
  HS_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, index));
  HS_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, index));
  HS_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, index));
  HS_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index));
  HS_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index));
  DevicePeaks p;
  p.bf16_flop_per_clk_sm = major == 8 ? (minor == 0 ? 2048 : 1024)
                           : major == 9 ? 4096
                           : major >= 10 ? 8192
                                         : 1024;
  p.hbm_gbps = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  p.bf16_tflops = double(sms) * sm_khz * 1e3 * p.bf16_flop_per_clk_sm / 1e12;
  p.how = absl::StrCat(sms, " SMs x ", sm_khz / 1000, " MHz x ", p.bf16_flop_per_clk_sm,
                       " bf16 FLOP/clk/SM (sm_", major, minor, ")");
  return p;
}

absl::StatusOr<DeviceInfo> SelectDevice(int local_rank) {
  HS_ASSIGN_OR_RETURN(int count, DeviceCount());
  if (local_rank < 0 || local_rank >= count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "local rank ", local_rank, " needs CUDA device ", local_rank,
        " but only ", count, " visible (one GPU per local rank)",
        VisibleDevicesNote()));
  }
  HS_CUDA_RETURN_IF_ERROR(cudaSetDevice(local_rank));
  // Create the context now, so a broken device fails here and not in the
  // first kernel.
  HS_CUDA_RETURN_IF_ERROR(cudaFree(nullptr));
  InstallCudaAllocatorHooks();
  return GetDeviceInfo(local_rank);
}

}  // namespace hs::cuda
