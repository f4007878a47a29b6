// File: parallel/grad_sync.h
//
// GradSync: everything that happens to the CPU model's gradients between
// its backward and its optimizer step, over the groups of a
// ParallelContext:
//   * the dense Ddp (all parameters, or the non-expert ones with EP) over
//     the stage's data-parallel group, and the expert Ddp (routed experts)
//     over the ranks that hold the same experts;
//   * ZeRO-1: which arena ranges this rank's optimizer owns, and the
//     parameter allgather after the step;
//   * the global gradient norm (over DP shards, EP groups and pipeline
//     stages, every sum in rank order) and the clip to it.
// A single rank (no data parallelism) has no Ddp: it owns the whole arena
// and only computes the norm (summed over the pipeline).
//
// Per step:
//   sync->BeginBackward();
//   model->Backward(ce_scale, aux_scale, sync->hook());   // last micro-batch
//   sync->EndBackward();
//   HS_ASSIGN_OR_RETURN(double norm, sync->Finish(step, [&] { /* optimizer on OwnedRanges() */ }));
#ifndef PARALLEL_GRAD_SYNC_H_
#define PARALLEL_GRAD_SYNC_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/deepseek_v2.h"
#include "models/param_arena.h"
#include "parallel/context.h"
#include "parallel/ddp.h"

namespace hs::parallel {

struct GradSyncOptions {
  // Backend, buckets, ZeRO stage, node grouping, registered gradients:
  // applied to both Ddps (`include` is set by GradSync).
  DdpOptions ddp;
  double grad_clip = 0;        // global-norm clip (0: none)
  bool check_replicas = false;  // verify replicas after every step
};

class GradSync {
 public:
  // Create: collective over the context's DP group. May move the arena's
  // gradients into HFReduce's registered shared memory (RebindGrads), and
  // with node-shared parameters its parameters into the node's copy
  // (RebindParams).
  static absl::StatusOr<std::unique_ptr<GradSync>> Create(const ParallelContext& ctx,
                                                          models::ParamArena* arena,
                                                          const GradSyncOptions& options);

  // Arena ranges this rank's optimizer updates (merged, sorted): the whole
  // arena without ZeRO-1 or node-shared parameters.
  const std::vector<std::pair<int64_t, int64_t>>& OwnedRanges() const { return owned_; }
  // sharded(): the optimizer state is split over ranks (ZeRO-1, or over a
  // node's ranks with node-shared parameters).
  bool sharded() const { return ddp_ && ddp_->sharded(); }
  bool node_shared_params() const { return ddp_ && ddp_->shared_params() != nullptr; }
  // GatherNodeState(packed, full): node-shared parameters, collective over
  // the node: `packed` holds this rank's values of OwnedRanges()
  // concatenated in order; the node's local rank 0 gets the node's whole
  // arena of them in `full` (resized to the arena; untouched elsewhere).
  absl::Status GatherNodeState(const std::vector<float>& packed, std::vector<float>* full);
  // WaitForSharedParams(): node-shared parameters: returns once every rank
  // of the node got here (after writing the node's copy, e.g. a resume).
  absl::Status WaitForSharedParams();
  bool data_parallel() const { return ddp_ != nullptr; }
  // Describes the data-parallel setup for the run log ("" without DP).
  std::string Describe() const;

  // BeginBackward / hook / EndBackward: around the backward whose
  // gradients are final (the last micro-batch); reductions overlap it.
  void BeginBackward();
  models::GradReadyHook hook();
  void EndBackward();

  // Finish(step, apply, after_reduce): waits for the reductions, runs
  // after_reduce (if any: e.g. a gradient dump), computes the global norm
  // and the factor that clips it to optimizer.grad_clip, runs apply(i,
  // begin, end, grad_scale) for each owned range (the optimizer step, which
  // applies the factor as it reads the gradients), gathers the parameters
  // (ZeRO-1) and checks replicas when asked. Returns the norm before
  // clipping; a non-finite norm is Internal and nothing is updated.
  using ApplyFn =
      std::function<absl::Status(size_t index, int64_t begin, int64_t end, float grad_scale)>;
  absl::StatusOr<double> Finish(int64_t step, const ApplyFn& apply,
                                const std::function<absl::Status()>& after_reduce = nullptr);
  // The communication timeline of the last Finish (dense Ddp).
  const CommTimeline& timeline() const { return timeline_; }

 private:
  GradSync() = default;
  std::vector<Ddp*> Ddps() const;
  absl::StatusOr<double> GlobalSumOfSquares() const;

  const ParallelContext* ctx_ = nullptr;
  models::ParamArena* arena_ = nullptr;
  GradSyncOptions options_;
  std::unique_ptr<Ddp> ddp_;         // dense (or all) parameters over DP
  std::unique_ptr<Ddp> expert_ddp_;  // routed experts over their replicas (EP)
  std::vector<std::pair<int64_t, int64_t>> owned_;
  CommTimeline timeline_;
};

}  // namespace hs::parallel

#endif  // PARALLEL_GRAD_SYNC_H_
