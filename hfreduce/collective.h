// File: hfreduce/collective.h
//
// The engine that runs one HFReduce collective on one rank (internal; the
// public API is hfreduce.h). All collectives share one hierarchical,
// chunk-pipelined schedule over the node's shared-memory segment:
//
//   node segment:  [control: abort flag, per-rank counters + OpDesc]
//                  [buffer 0: slot 0 | slot 1 | ... | slot L-1 | acc]
//                  [buffer 1: ...]          (pipeline depth buffers)
//
//   for each chunk g (buffer g % depth) of the operation, on local rank l:
//     1. copy-in   my input chunk -> slot l                  ; in[l]  = g+1
//     2+3. reduce + tree, fused: wait all in >= g+1; the double binary tree
//                  (tree_allreduce.h) over local rank l of every node asks,
//                  per sub-chunk of my slice, for acc = slot0 + ... +
//                  slot L-1 (f32, fixed order) + child0 + child1 in one
//                  pass once the children's partial sums arrived, sends it
//                  up, and gets the final value back down     ; red[l] = g+1
//     (1'. copy-in of chunk g+1 into the other buffer, overlapping peers)
//     4. copy-out  wait all red >= g+1; acc -> my output
//                  (÷ world size for average, round to bf16) ; out[l] = g+1
//   a buffer is reused for chunk g+depth only after every rank's out >= g+1.
//
// AllReduce moves fewer bytes than the other collectives: rank l copies in
// only the slices the other ranks reduce, reads its own slice straight from
// its buffer in step 2, writes each sub-chunk of its slice to its output the
// moment it is final (at a tree root: in the same pass as the sum) and
// copies out only the other slices in step 4. The per-element order is that
// of a local sum followed by the tree's combines, whatever the fusion.
//
// Registered buffers: an AllReduce whose buffer lies in the rank's
// registered region (SharedRegion, handed out by Communicator::AllocShared)
// is neither copied in nor out. The slice owners read it in place, and
// write each final sub-chunk straight into every registered rank's buffer
// (region A of a rank's buffer is only ever read by A's owner, before it
// writes A, so this is safe); a rank leaves once every owner is done. The
// other ranks of the node may use plain buffers in the same call: each rank
// publishes where its data is (RankControl::shared_off). Same bits.
//
// AllReduceRows (row_sparse.cc; every rank's buffer registered) is an f32
// AllReduce of a [rows, cols] matrix most of whose rows are zero on every
// rank (an embedding's gradient). Local rank l owns rows [l*R/L, (l+1)*R/L)
// on every node (rail l shares them). One node: l walks its rows once; a
// row zero in every rank's buffer is skipped (its sum is zero), any other
// is summed in slot order, as AllReduce would, and written into every
// rank's buffer. Several nodes: l marks its rows nonzero on the node, rail
// l sums those masks over the trees, packs the node's sums of the rows in
// the union, all-reduces them over the trees and writes them into every
// local buffer. No copies in or out of slots; two meetings of the node.
//
// Small AllReduces (<= min(small_bytes, slot_bytes)) take one buffer and one
// reducer: the other local ranks copy in; local rank 0 sums all slots (its
// own input read in place) and runs the tree alone (rail 0); then every rank
// copies the result out. One tree instead of one per rail, no slicing.
//
// AllReduce reduces f32/bf16 elements into an f32 acc. Broadcast moves raw
// bytes: every rank's input is the root's data or zeros, combined with OR,
// which is exact for any bits. The OpDesc of each call is compared within
// the node (shared memory) and between nodes (the tree's control messages).
//
// ReduceScatter and AllGather have their own schedules that move only the
// bytes they must (scatter_gather.cc). Rank r = node * L + l owns block r;
// local rank l of every node forms rail l, which owns the blocks
// {n * L + l}. The chunk sequence walks the nodes in ring order:
//
//   for each piece k (a slice of every block), ReduceScatter on node m,
//   step s = 0..N-1, destination node n = m-1-s:
//     copy-in   the blocks n*L + l' (l' != me) of my input -> my slot
//     reduce    block n*L + me: my input (in place) + every slot, slot order,
//               into an f32 piece (the node's partial sum)
//     ring      s > 0: + the partial that node m-1 sent (f32 add commutes,
//               so the order is that of the ring: m+1 first ... m last);
//               s < N-1: send the piece to node m+1; s = N-1: it is final,
//               (÷ size, round to bf16) into my output
//   for each piece k, AllGather on node m, step s = 0..N-1, source node
//   n = m-s:
//     block n*L + me arrives (s = 0: my input; else from node m-1 straight
//     into my output) and goes on to node m+1 (s < N-1), into my slot, and
//     the others copy it out of my slot into their output.
//
// Per node each byte crosses shared memory once in and once out (the own
// block not at all) and the NIC (N-1)/N times: the minimum for plain
// buffers. With N <= 2 the ReduceScatter's bits equal those of AllReduce.
//
// The copy-in and copy-out steps are the seam for the GPU path: there they
// become D2H/H2D copies on streams; the rest is unchanged.
#ifndef HFREDUCE_COLLECTIVE_H_
#define HFREDUCE_COLLECTIVE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "haiscale/dtype.h"
#include "hfreduce/op_desc.h"
#include "hfreduce/transport/transport.h"
#include "hfreduce/tree_allreduce.h"

namespace hs::hfreduce {

class RingPipe;  // ring.h

// Where this rank sits and how the engine is sized.
struct EngineConfig {
  int rank = 0, size = 1;              // in the communicator
  int local_rank = 0, local_size = 1;  // within the node
  int node = 0, num_nodes = 1;
  int64_t slot_bytes = 1 << 20;        // per-rank slot of one buffer
  int64_t min_chunk_bytes = 512 << 10; // AllReduce chunks: at least this
  int depth = 2;                       // pipeline buffers
  // AllReduces of at most min(small_bytes, slot_bytes) bytes take the
  // small-message path (one reducer per node, one tree); 0 disables it.
  int64_t small_bytes = 64 << 10;
  // Bytes of each local rank's registered region (SharedRegion), where
  // buffers live that the node's other ranks read and write in place.
  int64_t registered_bytes = 0;
  // Bytes of the node's common region (NodeSharedRegion): one block that
  // every local rank maps, for data the node's ranks hold once between them
  // (DDP's node-shared parameters).
  int64_t node_shared_bytes = 0;
  // Two nodes: AllReduces of at most this many bytes, and the op checks of
  // ReduceScatter / AllGather, take the one-hop exchange (pair_exchange.h)
  // instead of the trees.
  int64_t pair_exchange_bytes = 1 << 20;
  TreeOptions tree;
  absl::Duration timeout = absl::Seconds(60);
};

// One call: the agreed description plus this rank's buffers.
struct OpCall {
  OpDesc desc;
  const void* src = nullptr;  // input (AllReduce/Broadcast: == dst)
  void* dst = nullptr;        // output
  // AllReduceRows: where the number of rows nonzero on some rank goes.
  int64_t* nonzero_rows = nullptr;
};

class Engine {
 public:
  // Engine::SegmentBytes(config): the node segment's caller area size.
  static int64_t SegmentBytes(const EngineConfig& config);

  // Engine(config, area, rail, abort): `area` is the node segment's caller
  // area (zeroed by its creator), `rail` the inter-node transport of this
  // local rank, `abort` the communicator's abort flag. Borrows all three.
  Engine(const EngineConfig& config, void* area, Transport* rail,
         const std::atomic<bool>* abort);

  // Engine::Run(call): runs one collective to completion on this rank.
  absl::Status Run(const OpCall& call);

  // Engine::RaiseNodeAbort(reason): tells the node's other ranks to stop
  // (their waits fail with `reason`); the first reason wins.
  void RaiseNodeAbort(const std::string& reason);

  // Engine::NodeAbortReason(): the node's abort reason, empty when none.
  std::string NodeAbortReason() const;

  // Engine::SharedRegion(l): local rank l's registered region (
  // EngineConfig::registered_bytes bytes, page-aligned, in the node segment).
  char* SharedRegion(int l) const;

  // Engine::NodeSharedRegion(): the node's common region (
  // EngineConfig::node_shared_bytes bytes, page-aligned, after the ranks'
  // registered regions): the same memory on every local rank.
  char* NodeSharedRegion() const;

  // Engine::AllReduceOwnedUnits(count, dtype, l): the element ranges of an
  // AllReduce of `count` elements whose sums local rank l computes (its
  // slice of every chunk); over l = 0..L-1 a partition of [0, count). An
  // AllReduceToOwners call (OpDesc::root 1) writes at least these into local
  // rank l's buffer.
  std::vector<std::pair<int64_t, int64_t>> AllReduceOwnedUnits(int64_t count, DType dtype,
                                                               int l) const;

  // Engine::UsesSmallPath(desc): whether this call takes the small-message
  // path (the same answer on every rank for matching calls).
  bool UsesSmallPath(const OpDesc& desc) const;

  // Engine::PairExchange(desc): whether this call's inter-node phase is the
  // two-node exchange (PairExchangeOn and at most pair_exchange_bytes)
  // rather than the trees; PairExchangeOn(): two nodes and the exchange on
  // (what a data-less op check takes).
  bool PairExchange(const OpDesc& desc) const;
  bool PairExchangeOn() const;

 private:
  struct Control;
  struct RankControl;
  class RingPass;  // scatter_gather.cc: the chunk walk both ring collectives share

  absl::Status RunSmall(const OpCall& call);
  absl::Status RunReduceScatter(const OpCall& call);  // scatter_gather.cc
  absl::Status RunAllGather(const OpCall& call);      // scatter_gather.cc
  absl::Status RunAllReduceRows(const OpCall& call);  // row_sparse.cc
  // CheckCall(d, g): after every local rank published chunk g (the first
  // of the call, its OpDesc in BufDesc): d agrees within the node and, over
  // the rail's tree control messages, between nodes. FailedPrecondition
  // naming both ranks.
  absl::Status CheckCall(const OpDesc& d, uint64_t g);
  // WaitAll(field, want, what, g, d, ring): every local rank's counter >=
  // want. With a ring, its pending transfers are polled while waiting (see
  // RingPipe::Poll: the neighbour node may need them to move).
  absl::Status WaitAll(std::atomic<uint64_t> RankControl::*field, uint64_t want,
                       const char* what, uint64_t g, const OpDesc& d,
                       RingPipe* ring = nullptr) const;
  RankControl& Rank(int l) const;
  OpDesc& BufDesc(int buffer, int l) const;  // per-buffer OpDesc (small path)
  char* Slot(int buffer, int l) const;
  char* Acc(int buffer) const;
  WaitContext Ctx() const;

  EngineConfig config_;
  char* area_;
  Control* control_;
  char* buffers_;
  int64_t buffer_stride_;
  Transport* rail_;
  const std::atomic<bool>* abort_;
  std::unique_ptr<TreeAllReduce> tree_;
  std::vector<const void*> srcs_, block_srcs_;  // per-slot pointers, reused
  std::vector<char*> peer_outs_;
  // One fused block of f32 sums, for sums that go straight to the outputs
  // and are never read from the acc (SliceReduce::block_acc).
  std::vector<float> block_acc_;
  // AllReduceRows on several nodes: my rows' union mask and packed sums.
  std::vector<float> rows_mask_, rows_packed_;
  std::vector<float> ring_pieces_;  // ReduceScatter: f32 send/receive pieces
  uint64_t next_chunk_ = 0;  // global chunk counter g, same on all ranks
};

}  // namespace hs::hfreduce

#endif  // HFREDUCE_COLLECTIVE_H_
