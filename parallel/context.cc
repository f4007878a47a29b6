// File: parallel/context.cc — see context.h.
#include "parallel/context.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "parallel/mpi_env.h"

namespace hs::parallel {
namespace {

void FreeComm(MPI_Comm* comm) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (*comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(comm);
  *comm = MPI_COMM_NULL;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ParallelContext>> ParallelContext::Create(TopologySpec spec,
                                                                         bool use_mpi_world) {
  std::unique_ptr<ParallelContext> c(new ParallelContext());
  int world_rank = 0, world_size = 1;
  if (use_mpi_world && MpiEnv::active()) {
    c->world_ = MpiEnv::world();
    MPI_Comm_rank(c->world_, &world_rank);
    MPI_Comm_size(c->world_, &world_size);
  }
  const int64_t pp = std::max<int64_t>(1, spec.pp);
  if (world_size % pp != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.pp: ", pp, " stages do not divide the job's ", world_size, " ranks"));
  }
  spec.world = world_size;
  // parallel.dp 0: every rank of a stage (Topology checks an explicit one).
  if (spec.dp <= 0) spec.dp = world_size / pp;
  spec.pp = pp;
  spec.ep = std::max<int64_t>(1, spec.ep);
  HS_ASSIGN_OR_RETURN(c->topology_, Topology::Create(spec));
  c->coords_ = c->topology_.Coords(world_rank);
  if (c->world_ != MPI_COMM_NULL) HS_RETURN_IF_ERROR(c->SplitGroups());
  return c;
}

absl::Status ParallelContext::SplitGroups() {
  // Ranks of one stage form its DP group; ranks with one dp_rank its pipeline.
  const RankCoords& c = coords_;
  MPI_Comm_split(world_, int(c.stage), int(c.dp_rank), &dp_);
  MPI_Comm_split(world_, int(c.dp_rank), int(c.stage), &pp_);
  if (topology_.ep() > 1) {
    // EP group: ep consecutive DP ranks of a stage; expert replicas: the
    // ranks of a stage holding the same experts (same ep_rank).
    const int64_t groups = topology_.dp() / topology_.ep();
    MPI_Comm_split(world_, int(c.stage * groups + c.ep_group), int(c.ep_rank), &ep_);
    MPI_Comm_split(world_, int(c.stage * topology_.ep() + c.ep_rank), int(c.ep_group), &expert_);
  }
  MPI_Comm_dup(world_, &ckpt_);
  MPI_Comm node;
  MPI_Comm_split_type(world_, MPI_COMM_TYPE_SHARED, int(c.rank), MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_free(&node);
  return absl::OkStatus();
}

ParallelContext::~ParallelContext() {
  for (MPI_Comm* comm : {&dp_, &pp_, &ep_, &expert_, &ckpt_}) FreeComm(comm);
}

absl::Status ParallelContext::SumOverWorld(double* values, int n) const {
  return AllSumInRankOrder(world_, values, n);
}

absl::Status ParallelContext::SumOverPipeline(double* values, int n) const {
  return pp_size() > 1 ? AllSumInRankOrder(pp_, values, n) : absl::OkStatus();
}

absl::Status ParallelContext::SumOverEpGroup(double* values, int n) const {
  return AllSumInRankOrder(ep_, values, n);
}

absl::StatusOr<bool> ParallelContext::AnyRank(bool flag) const {
  int v = flag ? 1 : 0;
  if (world_ == MPI_COMM_NULL) return flag;
  int rc = MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, world_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Allreduce");
  return v != 0;
}

absl::Status ParallelContext::Barrier() const {
  if (world_ == MPI_COMM_NULL) return absl::OkStatus();
  int rc = MPI_Barrier(world_);
  return rc == MPI_SUCCESS ? absl::OkStatus() : MpiError(rc, "MPI_Barrier");
}

std::function<absl::Status()> ParallelContext::CheckpointBarrier() const {
  if (ckpt_ == MPI_COMM_NULL) return nullptr;
  return [comm = ckpt_]() -> absl::Status {
    int rc = MPI_Barrier(comm);
    return rc == MPI_SUCCESS ? absl::OkStatus() : MpiError(rc, "MPI_Barrier");
  };
}

}  // namespace hs::parallel
