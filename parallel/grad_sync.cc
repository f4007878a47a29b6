// File: parallel/grad_sync.cc — see grad_sync.h.
#include "parallel/grad_sync.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/logging.h"
#include "haiscale/status.h"
#include "optim/clip.h"
#include "parallel/mpi_env.h"

namespace hs::parallel {

absl::StatusOr<std::unique_ptr<GradSync>> GradSync::Create(const ParallelContext& ctx,
                                                           models::ParamArena* arena,
                                                           const GradSyncOptions& options) {
  std::unique_ptr<GradSync> g(new GradSync());
  g->ctx_ = &ctx;
  g->arena_ = arena;
  g->options_ = options;
  g->owned_ = {{0, arena->size()}};
  if (ctx.dp_size() <= 1) return g;
  // Dense parameters over the DP group; with EP each rank's routed experts
  // only over the ranks that hold the same experts.
  DdpOptions d = options.ddp;
  DdpOptions e = options.ddp;
  const bool ep = ctx.ep_size() > 1;
  if (ep && options.ddp.node_shared_params) {
    // The node's ranks of a DP group hold different experts: no one copy.
    return absl::InvalidArgumentError(
        "parallel.node_shared_params needs parallel.ep 1 (expert-parallel ranks hold different "
        "experts)");
  }
  if (ep) d.include = [](const models::ParamSpec& s) { return s.expert < 0; };
  HS_ASSIGN_OR_RETURN(g->ddp_, Ddp::Create(ctx.dp_comm(), *arena, arena->grads(), d));
  // The DP group's HFReduce may keep the gradients in its registered
  // shared memory; everything after this sees them there.
  if (g->ddp_->grads() != arena->grads()) {
    HS_LOG(INFO) << "ddp: gradients in HFReduce's registered shared memory (reduced in place)";
  }
  arena->RebindGrads(g->ddp_->grads());
  if (ep) {
    e.include = [](const models::ParamSpec& s) { return s.expert >= 0; };
    e.ranks_per_node = 0;
    e.registered_grads = false;  // the gradients live in the DP group's segment
    HS_ASSIGN_OR_RETURN(g->expert_ddp_,
                        Ddp::Create(ctx.expert_comm(), *arena, arena->grads(), e));
  }
  std::vector<std::pair<int64_t, int64_t>> all;
  for (Ddp* ddp : g->Ddps()) {
    HS_RETURN_IF_ERROR(ddp->CheckReplicasIdentical(arena->params()));
    for (const auto& r : ddp->OwnedRanges()) all.push_back(r);
  }
  std::sort(all.begin(), all.end());
  g->owned_.clear();
  for (const auto& r : all) {
    if (!g->owned_.empty() && g->owned_.back().second == r.first) {
      g->owned_.back().second = r.second;
    } else {
      g->owned_.push_back(r);
    }
  }
  if (float* shared = g->ddp_->shared_params()) {
    // One copy per node (checked identical above); from here on every rank
    // of the node reads and updates that copy.
    HS_RETURN_IF_ERROR(g->ddp_->CopyInParams(arena->params()));
    arena->RebindParams(shared);
  }
  return g;
}

absl::Status GradSync::GatherNodeState(const std::vector<float>& packed,
                                       std::vector<float>* full) {
  if (!node_shared_params()) {
    return absl::FailedPreconditionError("GatherNodeState without node-shared parameters");
  }
  if (ddp_->local_rank() == 0) full->resize(arena_->size());
  return ddp_->GatherToNodeRoot(owned_, packed.data(),
                                ddp_->local_rank() == 0 ? full->data() : nullptr);
}

absl::Status GradSync::WaitForSharedParams() {
  if (!node_shared_params()) return absl::OkStatus();
  return ddp_->NodeBarrier();
}

std::vector<Ddp*> GradSync::Ddps() const {
  std::vector<Ddp*> out;
  if (ddp_) out.push_back(ddp_.get());
  if (expert_ddp_) out.push_back(expert_ddp_.get());
  return out;
}

std::string GradSync::Describe() const {
  if (!ddp_) return "";
  bool row_sparse = false;
  for (const Bucket& b : ddp_->buckets()) row_sparse = row_sparse || b.rows > 0;
  return absl::StrFormat(
      "%d ranks, %s, %d gradient buckets, ZeRO-%d%s%s", ctx_->dp_size(),
      options_.ddp.backend == DdpOptions::Backend::kMpi ? "MPI_Allreduce" : "HFReduce",
      ddp_->buckets().size(), options_.ddp.zero_stage,
      !row_sparse              ? ""
      : ddp_->rows_in_place() ? ", embedding gradient row-sparse (summed in place)"
                              : ", embedding gradient row-sparse",
      ddp_->shared_params() ? ", parameters node-shared (optimizer split over the node's ranks)"
                            : "");
}

void GradSync::BeginBackward() {
  for (Ddp* ddp : Ddps()) ddp->BeginBackward();
}

models::GradReadyHook GradSync::hook() {
  std::vector<models::GradReadyHook> hooks;
  for (Ddp* ddp : Ddps()) hooks.push_back(ddp->hook());
  return [hooks = std::move(hooks)](int64_t b, int64_t e) {
    for (const auto& h : hooks) h(b, e);
  };
}

void GradSync::EndBackward() {
  for (Ddp* ddp : Ddps()) ddp->EndBackward();
}

absl::StatusOr<double> GradSync::GlobalSumOfSquares() const {
  // Sum of squares over this rank's ranges; sharded (ZeRO-1) parts are
  // summed over their group; expert parts over the EP group (each EP rank
  // holds different experts); all of it over the pipeline stages.
  const float* grads = arena_->grads();
  double sq = 0;
  if (!ddp_) {
    for (const auto& [b, e] : owned_) sq += optim::SumOfSquares(grads + b, e - b);
  }
  for (Ddp* ddp : Ddps()) {
    double part = 0;
    for (const auto& [b, e] : ddp->OwnedRanges()) part += optim::SumOfSquares(grads + b, e - b);
    if (ddp->sharded()) HS_RETURN_IF_ERROR(AllSumInRankOrder(ddp->shard_comm(), &part, 1));
    if (ddp == expert_ddp_.get()) HS_RETURN_IF_ERROR(ctx_->SumOverEpGroup(&part, 1));
    sq += part;
  }
  HS_RETURN_IF_ERROR(ctx_->SumOverPipeline(&sq, 1));
  return sq;
}

absl::StatusOr<double> GradSync::Finish(int64_t step, const ApplyFn& apply,
                                        const std::function<absl::Status()>& after_reduce) {
  for (Ddp* ddp : Ddps()) HS_RETURN_IF_ERROR(ddp->WaitGradients());
  timeline_ = ddp_ ? ddp_->timeline() : CommTimeline{};
  if (after_reduce) HS_RETURN_IF_ERROR(after_reduce());
  HS_ASSIGN_OR_RETURN(const double sq, GlobalSumOfSquares());
  const double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) {
    return absl::InternalError(
        absl::StrCat("step ", step + 1, ": gradient norm is not finite; stopping"));
  }
  const float scale = float(optim::ClipScale(norm, options_.grad_clip));
  for (size_t i = 0; i < owned_.size(); ++i) {
    const auto [b, e] = owned_[i];
    HS_RETURN_IF_ERROR(apply(i, b, e, scale));
  }
  for (Ddp* ddp : Ddps()) HS_RETURN_IF_ERROR(ddp->AllGatherParams(arena_->params()));
  if (options_.check_replicas) {
    for (Ddp* ddp : Ddps()) {
      HS_RETURN_IF_ERROR(
          Annotate(ddp->CheckReplicasIdentical(arena_->params()), "after step ", step + 1));
    }
  }
  return norm;
}

}  // namespace hs::parallel
