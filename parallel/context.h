// File: parallel/context.h
//
// ParallelContext: every communicator of a run, built once from the
// degrees (Topology) and the process's MPI world, plus the few collectives
// the training loop needs. Code above parallel/ (the trainer, the step
// engines) never holds an MPI communicator: it asks the context for sums,
// barriers and the parallel pieces (pipeline runner, expert dispatcher,
// gradient synchronisation) that are built on its groups.
//
//   world  = pp x dp ranks, rank = stage * dp + dp_rank (Topology)
//   dp     : the ranks of one pipeline stage (gradient sums, ZeRO-1)
//   pp     : the ranks with one dp_rank, one per stage (activations)
//   ep     : ep consecutive DP ranks of a stage (expert all-to-all)
//   expert : the ranks of a stage holding the same experts (expert grads)
//   ckpt   : a duplicate of the world for the checkpoint writer's barrier
//            (the async writer's thread must not share a communicator with
//            the training thread)
//
// A single process (no MPI) gets a context of size 1 whose collectives are
// no-ops. Every sum is in rank order, so every rank gets the same bits.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto ctx, ParallelContext::Create(spec, /*use_mpi_world=*/true));
//   HS_RETURN_IF_ERROR(ctx->SumOverWorld(sums.data(), n));
#ifndef PARALLEL_CONTEXT_H_
#define PARALLEL_CONTEXT_H_

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "parallel/topology.h"

namespace hs::parallel {

class ParallelContext {
 public:
  // Create(spec, use_mpi_world): spec.world is ignored (the MPI world's size,
  // or 1 when use_mpi_world is false or the process runs without MPI);
  // spec.dp 0 means world / pp. Errors name the parallel.* field.
  // Collective over the world.
  static absl::StatusOr<std::unique_ptr<ParallelContext>> Create(TopologySpec spec,
                                                                 bool use_mpi_world);
  ~ParallelContext();
  ParallelContext(const ParallelContext&) = delete;
  ParallelContext& operator=(const ParallelContext&) = delete;

  const Topology& topology() const { return topology_; }
  bool distributed() const { return world_ != MPI_COMM_NULL; }
  int world_rank() const { return int(coords_.rank); }
  int world_size() const { return int(topology_.world()); }
  int dp_rank() const { return int(coords_.dp_rank); }
  int dp_size() const { return int(topology_.dp()); }
  int stage() const { return int(coords_.stage); }
  int pp_size() const { return int(topology_.pp()); }
  int ep_rank() const { return int(coords_.ep_rank); }
  int ep_size() const { return int(topology_.ep()); }
  int ep_group() const { return int(coords_.ep_group); }
  // Rank within the node (shared-memory domain): picks the device.
  int local_rank() const { return local_rank_; }
  // The rank that logs and writes the run directory.
  bool is_logger() const { return coords_.rank == 0; }

  // Sums in rank order (in place; no-op for a group of one).
  absl::Status SumOverWorld(double* values, int n) const;
  absl::Status SumOverPipeline(double* values, int n) const;
  absl::Status SumOverEpGroup(double* values, int n) const;
  // AnyRank(flag): true on every rank when `flag` is true on any rank.
  absl::StatusOr<bool> AnyRank(bool flag) const;
  absl::Status Barrier() const;
  // CheckpointBarrier(): a barrier over the world on its own communicator,
  // callable from the checkpoint writer's thread (nullptr: single process).
  std::function<absl::Status()> CheckpointBarrier() const;

  // The groups, for the parallel/ pieces built on them (MPI_COMM_NULL where
  // the group is a single rank or the run is not distributed).
  MPI_Comm world_comm() const { return world_; }
  MPI_Comm dp_comm() const { return dp_; }
  MPI_Comm pp_comm() const { return pp_; }
  MPI_Comm ep_comm() const { return ep_; }
  MPI_Comm expert_comm() const { return expert_; }

 private:
  ParallelContext() = default;
  absl::Status SplitGroups();

  Topology topology_;
  RankCoords coords_;
  int local_rank_ = 0;
  MPI_Comm world_ = MPI_COMM_NULL;  // not owned (MPI_COMM_WORLD)
  MPI_Comm dp_ = MPI_COMM_NULL, pp_ = MPI_COMM_NULL, ep_ = MPI_COMM_NULL,
           expert_ = MPI_COMM_NULL, ckpt_ = MPI_COMM_NULL;  // owned
};

}  // namespace hs::parallel

#endif  // PARALLEL_CONTEXT_H_
