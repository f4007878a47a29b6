// File: parallel/ddp.h
//
// Ddp: data-parallel gradient synchronisation that overlaps backward.
//
// The gradient arena is cut into buckets (~bucket_mb each, at parameter
// boundaries) in reverse layer order. During the last micro-batch's
// backward the model reports each block's arena range the moment its
// gradients are final (models::GradReadyHook); a bucket whose range is
// entirely final is handed to the communication thread at once, which
// reduces it (HFReduce, or MPI_Allreduce for comparison) while backward
// goes on. The optimizer step waits only at the end (WaitGradients).
//
//   backward:  [lm_head][block L-1][block L-2] ...            [embed]
//   comm:              [bucket 0  ][bucket 1      ] ...  [bucket k]
//                                             exposed: ^^^^^^^^^^^^ (after backward)
//
// Gradients are SUMMED across ranks: the trainer scales the loss by
// 1 / (target tokens of the global batch), so the sum is exactly the
// single-process gradient of the same global batch.
//
// Row-sparse parameters (DdpOptions::row_sparse: the token embedding) get
// a bucket of their own, reduced as the rows nonzero on some rank packed
// together (parallel/sparse_rows.h) while at most max_sparse_density of
// the rows are; the embedding's gradient is final only when backward ends,
// so its bytes are what every backend leaves after backward.
//
// ZeRO-1 (zero_stage 1): each bucket is reduce-scattered instead; rank r
// owns part r of every bucket (ceil(n/dp) floats), steps the optimizer on
// its parts only (optimizer state / dp per rank), and AllGatherParams
// reassembles the updated parameters on every rank.
//
// Node-shared parameters (node_shared_params; HFReduce, ZeRO-0): the ranks
// of a node keep one copy of the parameters in HFReduce's node segment
// (shared_params()); local rank l of L owns part l of every bucket, so
// the node's optimizer work and state are split L ways, and the updated
// parts are already where every rank reads them: AllGatherParams is a
// barrier of the node's ranks. A rank's parts are the slices HFReduce sums
// on it (Communicator::AllReduceOwnedSlices), and the dense buckets are
// reduced with AllReduceToOwners: each sum lands only in its owner's
// gradient buffer instead of in all L of the node.
//
// Usage (per step):
//   ddp->BeginBackward();
//   model->Backward(ce_scale, aux_scale, ddp->hook());   // last micro-batch
//   ddp->EndBackward();
//   HS_RETURN_IF_ERROR(ddp->WaitGradients());
//   ... clip + optimizer on ddp->OwnedRanges() ...
//   HS_RETURN_IF_ERROR(ddp->AllGatherParams(arena.params()));   // ZeRO-1 only
#ifndef PARALLEL_DDP_H_
#define PARALLEL_DDP_H_

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hfreduce/hfreduce.h"
#include "models/deepseek_v2.h"
#include "models/param_arena.h"

namespace hs::parallel {

struct DdpOptions {
  enum class Backend { kHfReduce, kMpi };
  Backend backend = Backend::kHfReduce;
  double bucket_mb = 25.0;
  int zero_stage = 0;                 // 0 or 1
  int ranks_per_node = 0;             // HFReduce node grouping (0: shared-memory split)
  // HFReduce tuning: chunk sizes, pipeline depth, tree messages, the
  // two-node exchange (hfreduce::Options). Ddp sets the node grouping, the
  // progress thread's priority and the registered bytes itself.
  hfreduce::Options hfreduce;
  // Test knob: the communication thread sleeps this long before each
  // bucket, an artificially slow transport for the overlap test.
  double debug_delay_ms = 0.0;
  // Which parameters this Ddp reduces (nullptr: all). Expert parallelism
  // runs two: dense parameters over the DP group, routed experts over the
  // ranks holding the same experts.
  std::function<bool(const models::ParamSpec&)> include;
  // HFReduce, ZeRO-0: keep the gradients in HFReduce's registered shared
  // memory (Communicator::AllocShared), so buckets are reduced in place
  // with no copy into or out of the node pipeline. The caller then moves
  // the arena's gradients there (ParamArena::RebindGrads(ddp->grads())).
  // Skipped, with a log line, when /dev/shm has too little room.
  bool registered_grads = true;
  // HFReduce: nice levels the communication thread (and, with ZeRO-1, whose
  // calls are asynchronous, HFReduce's progress thread) run above compute,
  // so buckets launched during backward progress while backward holds the
  // cores instead of piling up after it (haiscale/thread_priority.h;
  // docs/parallelism.md). 0: equal priority.
  // The MPI backend ignores it (its waits poll without pause).
  int comm_priority = 0;
  // HFReduce: the time slice (µs) those threads ask for (thread_priority.h:
  // runnable again, they preempt compute within about that long). 0: the
  // kernel's default. The MPI backend ignores it.
  int comm_slice_us = 0;
  // Parameters whose gradient rows are mostly zero (the token embedding:
  // rows of tokens not in the batch). Each is a bucket of its own, reduced
  // as the union of the ranks' nonzero rows (nullptr: none). HFReduce with
  // registered gradients sums those rows in place in the nodes' shared
  // memory (Communicator::AllReduceRows); otherwise the ranks agree on the
  // union with a reduction of row masks and reduce the rows packed.
  std::function<bool(const models::ParamSpec&)> row_sparse;
  // On the packed path: above this share of rows in the union, a
  // row-sparse bucket is reduced densely (packing then costs more than the
  // bytes it saves). The in-place path needs no such limit.
  double max_sparse_density = 0.5;
  // HFReduce, ZeRO-0, registered gradients: one copy of the parameters per
  // node, in HFReduce's node segment (Communicator::AllocNodeShared); the
  // caller moves the arena's parameters there (ParamArena::RebindParams).
  // Skipped, with a log line, where the gradients cannot be registered.
  bool node_shared_params = false;
};

// An arena range [begin, end) of floats reduced as one message.
struct Bucket {
  int64_t begin = 0, end = 0;
  // Row-sparse (one [rows, cols] parameter) when rows > 0.
  int64_t rows = 0, cols = 0;
  int64_t size() const { return end - begin; }
};

// One bucket's reduction in a backward: seconds from this rank's end of
// backward (negative: before it ended), in the order they ran.
struct BucketSpan {
  int index = 0;            // into Ddp::buckets()
  int64_t floats = 0;
  bool row_sparse = false;
  double start = 0, end = 0;
  // The communication thread's CPU seconds and context switches (given up
  // and taken) while it reduced this bucket: what the reduction cost the
  // cores, as opposed to how long it took.
  double cpu = 0;
  int64_t switches = 0;
};

// The measured communication timeline of one backward (seconds).
struct CommTimeline {
  double busy = 0;      // time the communication thread spent reducing
  double hidden = 0;    // the part of `busy` before backward ended
  double exposed = 0;   // time WaitGradients blocked after backward ended
  int buckets = 0;
  double cpu = 0;        // the communication thread's CPU seconds (BucketSpan::cpu)
  int64_t switches = 0;  // its context switches (BucketSpan::switches)
  // Row-sparse buckets: rows reduced (the union over ranks) out of all.
  int64_t sparse_rows = 0, sparse_rows_total = 0;
  std::vector<BucketSpan> spans;  // every bucket, in the order they ran
  // Share of communication hidden behind backward (0 when nothing ran).
  double overlap() const { return busy > 0 ? hidden / busy : 0.0; }
};

class Ddp {
 public:
  // Create: `comm` is the data-parallel group (collective over its ranks).
  static absl::StatusOr<std::unique_ptr<Ddp>> Create(MPI_Comm comm,
                                                     const models::ParamArena& arena,
                                                     float* grads, const DdpOptions& options);
  ~Ddp();
  Ddp(const Ddp&) = delete;
  Ddp& operator=(const Ddp&) = delete;

  // grads(): where this Ddp reduces gradients: the `grads` given to Create,
  // or its registered copy (DdpOptions::registered_grads).
  float* grads() const { return grads_; }

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Whether row-sparse buckets are summed in place by HFReduce
  // (Communicator::AllReduceRows) rather than as packed rows.
  bool rows_in_place() const { return rows_in_place_; }

  // CheckReplicasIdentical: every rank of the group holds the same values
  // in this Ddp's parameter ranges (a hash compared across ranks); the
  // error names the ranks that differ.
  absl::Status CheckReplicasIdentical(const float* params) const;
  MPI_Comm comm() const { return comm_; }

  void BeginBackward();
  // hook(): pass to DeepseekV2Model::Backward on the last micro-batch.
  models::GradReadyHook hook();
  // EndBackward: launches any bucket not launched yet (ranges the model
  // did not report) and timestamps the end of backward.
  void EndBackward();
  // WaitGradients: blocks until every bucket is reduced.
  absl::Status WaitGradients();
  const CommTimeline& timeline() const { return timeline_; }

  // shared_params(): the node's copy of the parameters (node_shared_params),
  // nullptr without it. The node's local rank 0 fills it (CopyInParams).
  float* shared_params() const { return shared_params_; }
  int local_rank() const { return local_rank_; }
  // OwnedRanges: arena ranges this rank's optimizer updates: every bucket
  // (adjacent ones merged) without ZeRO, its part of every bucket with ZeRO-1
  // (of the group) or with node-shared parameters (of the node).
  // Computed once in Create (the clip norm reads them every step).
  const std::vector<std::pair<int64_t, int64_t>>& OwnedRanges() const { return owned_; }
  // sharded(): the optimizer state is split (ZeRO-1, or over the node).
  bool sharded() const { return options_.zero_stage == 1 || shared_params_ != nullptr; }
  // shard_comm(): the ranks whose parts make up the whole (the group with
  // ZeRO-1, the node with node-shared parameters).
  MPI_Comm shard_comm() const { return shared_params_ ? node_comm_ : comm_; }
  // CopyInParams(params): node-shared parameters only: the node's local
  // rank 0 copies `params` into shared_params(); returns when every rank of
  // the node can read them.
  absl::Status CopyInParams(const float* params);
  // NodeBarrier(): node-shared parameters only: returns once every rank of
  // the node got here (orders writes to the node's copy before reads).
  absl::Status NodeBarrier();
  // GatherToNodeRoot(ranges, packed, full): node-shared parameters only,
  // collective over the node: `packed` holds this rank's values of the arena
  // ranges `ranges`, concatenated in order; the node's local rank 0 gets
  // every rank's placed by range into `full` (arena floats; the other ranks
  // may pass nullptr). For saving the node's optimizer state whole.
  absl::Status GatherToNodeRoot(const std::vector<std::pair<int64_t, int64_t>>& ranges,
                                const float* packed, float* full);
  // AllGatherParams: ZeRO-1: every rank gets every bucket's parts.
  // Node-shared parameters: waits until every rank of the node has written
  // its parts (and nobody reads the parameters before that).
  absl::Status AllGatherParams(float* params);

 private:
  Ddp() = default;
  void CommLoop();
  absl::Status ReduceBucket(const Bucket& b);
  // AllReduceSum: in place over the group, on the chosen backend.
  absl::Status AllReduceSum(float* x, int64_t n);
  // ReduceSparseBucket: the union of nonzero rows, packed (sparse_rows.h);
  // the whole bucket when the union is denser than max_sparse_density.
  absl::Status ReduceSparseBucket(const Bucket& b);
  void Launch(size_t index);
  std::vector<std::pair<int64_t, int64_t>> ComputeOwnedRanges() const;
  // Parts: how many owners share each bucket's optimizer step, and which
  // part is this rank's (ZeRO-1: the group; node-shared: the node).
  int parts() const { return options_.zero_stage == 1 ? size_ : shared_params_ ? local_size_ : 1; }
  int part_index() const { return options_.zero_stage == 1 ? rank_ : local_rank_; }
  int64_t PartSize(const Bucket& b) const { return (b.size() + parts() - 1) / parts(); }

  DdpOptions options_;
  MPI_Comm comm_ = MPI_COMM_NULL;  // dup of the DP group
  int rank_ = 0, size_ = 1;
  float* grads_ = nullptr;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<int64_t, int64_t>> owned_;  // OwnedRanges()
  std::unique_ptr<hfreduce::Communicator> hf_;
  std::vector<float> scratch_;      // ZeRO-1 padded send/recv buffer (comm thread)
  std::vector<float> part_;         // ZeRO-1 this rank's reduced part (comm thread)
  std::vector<float> gather_;       // ZeRO-1 allgather buffer (main thread)
  std::vector<float> send_part_;    // ZeRO-1 this rank's updated part (main thread)
  bool rows_in_place_ = false;      // HFReduce AllReduceRows (registered gradients)
  float* shared_params_ = nullptr;  // node_shared_params: in HFReduce's node segment
  MPI_Comm node_comm_ = MPI_COMM_NULL;  // this node's ranks (node_shared_params)
  int64_t param_floats_ = 0;        // the shared block's floats (padded arena)
  int local_rank_ = 0, local_size_ = 1;
  // Row-sparse buckets on the packed path (comm thread): per-row mask /
  // union counts and the packed rows (max_sparse_density of the largest).
  std::vector<float> row_counts_;
  std::vector<float> packed_;

  // Backward bookkeeping (main thread).
  int64_t frontier_ = 0;            // lowest arena offset whose grads are final
  size_t next_launch_ = 0;          // buckets_[0, next_launch_) were launched
  double t_backward_end_ = 0;

  // Communication thread.
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<size_t> queue_;
  size_t done_ = 0;                 // buckets finished this backward
  bool stop_ = false;
  absl::Status error_;
  std::vector<BucketSpan> busy_;    // absolute start / end per bucket
  int64_t sparse_rows_ = 0;         // row-sparse buckets' rows reduced, this backward
  CommTimeline timeline_;
};

}  // namespace hs::parallel

#endif  // PARALLEL_DDP_H_
