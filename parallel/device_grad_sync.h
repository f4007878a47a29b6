// File: parallel/device_grad_sync.h
//
// DeviceGradSync: the data-parallel gradient sum of a device step engine
// (train.device other than CPU), built on the ParallelContext's DP group:
// HFReduce's staged GPU path (D2H into the node's pinned shared segment,
// CPU reduction and inter-node trees, H2D) through the engine's copier.
// The CPU model's counterpart is GradSync (grad_sync.h); engines keep
// clipping and the optimizer on the device.
//
// Usage (in an engine):
//   HS_ASSIGN_OR_RETURN(sync_, DeviceGradSync::Create(*setup.parallel, rpn, copier));
//   if (sync_) HS_RETURN_IF_ERROR(sync_->Sum(device_grads, n));
#ifndef PARALLEL_DEVICE_GRAD_SYNC_H_
#define PARALLEL_DEVICE_GRAD_SYNC_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hfreduce/gpu/device_copier.h"
#include "hfreduce/gpu/gradient_reducer.h"
#include "parallel/context.h"

namespace hs::parallel {

class DeviceGradSync {
 public:
  // Create(ctx, ranks_per_node, copier): collective over the DP group;
  // nullptr when the run has a single data-parallel rank (nothing to sum).
  // Borrows copier (must outlive the sync).
  static absl::StatusOr<std::unique_ptr<DeviceGradSync>> Create(
      const ParallelContext& ctx, int ranks_per_node, hfreduce::gpu::DeviceCopier* copier);

  // Sum(device_grads, n): fp32 gradients in place, summed over the DP group
  // (every rank gets the same bits).
  absl::Status Sum(float* device_grads, int64_t n) { return reducer_->Sum(device_grads, n); }
  std::string Describe() const { return reducer_->Describe(); }

 private:
  DeviceGradSync() = default;
  std::unique_ptr<hfreduce::gpu::GradientReducer> reducer_;
};

}  // namespace hs::parallel

#endif  // PARALLEL_DEVICE_GRAD_SYNC_H_
