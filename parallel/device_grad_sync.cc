// File: parallel/device_grad_sync.cc — see device_grad_sync.h.
#include "parallel/device_grad_sync.h"

#include "haiscale/status.h"

namespace hs::parallel {

absl::StatusOr<std::unique_ptr<DeviceGradSync>> DeviceGradSync::Create(
    const ParallelContext& ctx, int ranks_per_node, hfreduce::gpu::DeviceCopier* copier) {
  if (ctx.dp_size() <= 1) return std::unique_ptr<DeviceGradSync>();
  std::unique_ptr<DeviceGradSync> s(new DeviceGradSync());
  HS_ASSIGN_OR_RETURN(s->reducer_, hfreduce::gpu::GradientReducer::Create(
                                       ctx.dp_comm(), ranks_per_node, copier));
  return s;
}

}  // namespace hs::parallel
