// File: haiscale/cuda/device.h
//
// CUDA device discovery and selection by local rank. Safe to call on a
// machine without a GPU or without the driver: every function returns an
// error Status (FailedPrecondition, "no CUDA device ...") instead of
// crashing, which is how GPU tests decide to print "SKIPPED".
//
// Usage:
//   HS_ASSIGN_OR_RETURN(DeviceInfo dev, SelectDevice(topo.local_rank()));
//   LOG(INFO) << dev.ToString();   // "cuda:0 NVIDIA H100 ... sm_90 ..."
#ifndef HAISCALE_CUDA_DEVICE_H_
#define HAISCALE_CUDA_DEVICE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace hs::cuda {

// DeviceInfo: what the trainer logs and the kernels size themselves by.
struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;   // compute capability (8.0 = A100, 9.0 = H100)
  int sm_count = 0;
  int64_t total_memory = 0;         // bytes
  int64_t shared_memory_per_block_optin = 0;

  // DeviceInfo::ToString(): "cuda:0 NVIDIA A100-SXM4-80GB sm_80 108 SMs 79.2 GiB".
  std::string ToString() const;
};

// DevicePeaks: the roofline of a device, from its attributes: HBM
// bandwidth = 2 (DDR) x memory clock x bus width; bf16 dense tensor-core
// FLOP/s = SMs x max SM clock x FLOP/clk/SM by compute capability (8.0:
// 2048, other 8.x: 1024, 9.0: 4096, 10.x and later: 8192). MFU and the
// kernel benchmarks' "share of peak" divide by these.
struct DevicePeaks {
  double hbm_gbps = 0;
  double bf16_tflops = 0;
  int bf16_flop_per_clk_sm = 0;
  std::string how;  // "132 SMs x 1980 MHz x 4096 bf16 FLOP/clk/SM (sm_90)"
};

// GetDevicePeaks(index): DevicePeaks of device `index`.
absl::StatusOr<DevicePeaks> GetDevicePeaks(int index);

// DeviceCount(): the number of visible CUDA devices; FailedPrecondition
// naming the reason (no driver, no device, CUDA_VISIBLE_DEVICES) when 0.
absl::StatusOr<int> DeviceCount();

// GetDeviceInfo(index): properties of device `index`.
absl::StatusOr<DeviceInfo> GetDeviceInfo(int index);

// SelectDevice(local_rank): makes device `local_rank` current for the
// calling thread, installs the caching allocator's Tensor hooks
// (cuda_allocator.h) and returns its properties. InvalidArgument when the
// rank is negative or not below the visible device count (one GPU per
// local rank); FailedPrecondition when there is no device at all.
absl::StatusOr<DeviceInfo> SelectDevice(int local_rank);

}  // namespace hs::cuda

#endif  // HAISCALE_CUDA_DEVICE_H_
