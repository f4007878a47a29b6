// File: hfreduce/gpu/gradient_reducer.h
//
// GradientReducer: what a data-parallel trainer whose gradients live in
// device memory needs from HFReduce: one Communicator over the DP group
// with room for the staging ring, and a StagedAllReducer on top. The
// trainer's step engines (haiscale/train/step_engine.h) own one each.
//
// Usage (every rank of dp_comm, collectively):
//   HS_ASSIGN_OR_RETURN(auto r, GradientReducer::Create(dp_comm, ranks_per_node, copier));
//   HS_RETURN_IF_ERROR(r->Sum(d_grads, n));  // d_grads = sum over the group
#ifndef HFREDUCE_GPU_GRADIENT_REDUCER_H_
#define HFREDUCE_GPU_GRADIENT_REDUCER_H_

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hfreduce/gpu/device_copier.h"
#include "hfreduce/gpu/staged_allreduce.h"
#include "hfreduce/hfreduce.h"

namespace hs::hfreduce::gpu {

class GradientReducer {
 public:
  // Create(comm, ranks_per_node, copier, options): collective over comm.
  // ranks_per_node 0 = the ranks sharing a host form a node (as
  // parallel.ranks_per_node). Borrows copier (must outlive the reducer).
  static absl::StatusOr<std::unique_ptr<GradientReducer>> Create(
      MPI_Comm comm, int ranks_per_node, DeviceCopier* copier,
      const StagedOptions& options = StagedOptions());

  // Sum(device_grads, count): fp32 gradients, in place, summed over the
  // group (every rank gets the same bits). Errors name the rank.
  absl::Status Sum(float* device_grads, int64_t count);

  // Describe(): e.g. "HFReduce staged (2 nodes x 4 ranks, 4 MiB pieces, CUDA copier)".
  std::string Describe() const;

 private:
  GradientReducer() = default;
  std::unique_ptr<Communicator> comm_;
  std::unique_ptr<StagedAllReducer> staged_;
  DeviceCopier* copier_ = nullptr;
};

}  // namespace hs::hfreduce::gpu

#endif  // HFREDUCE_GPU_GRADIENT_REDUCER_H_
