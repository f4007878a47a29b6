// File: hfreduce/tree_allreduce.h
//
// The inter-node phase of HFReduce: an in-place allreduce of one buffer
// across the peers of a Transport (one rank per node, the same local rank on
// every node) with the double binary tree of tree.h. The buffer is cut in
// two halves, half t travels on tree t; each half is cut into sub-chunks
// that are pipelined: while sub-chunk k goes up (reduce towards the root),
// k-1 may already come down (broadcast from the root).
//
//     up (reduce):   v = own; v = v + child0; v = v + child1; send v to parent
//     down (bcast):  receive final v from parent (the root has it); send it
//                    to child0 and child1
//
// The combine order is fixed by the tree, so every rank ends with the same
// bits, and runs repeat bit for bit. With `ctrl`, the first message on
// every tree edge carries the caller's OpDesc: a parent compares its
// children's with its own, the root's verdict comes back down, and data from
// a peer is only accepted after its OpDesc matched, so mismatched calls are
// reported as errors everywhere.
//
// Usage:
//   TreeAllReduce tree(&transport, {.chunk_bytes = 256 << 10});
//   HS_RETURN_IF_ERROR(tree.Run(acc, bytes, /*align=*/4, CombineAddF32,
//                               &ctrl, wait_ctx));
#ifndef HFREDUCE_TREE_ALLREDUCE_H_
#define HFREDUCE_TREE_ALLREDUCE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "hfreduce/op_desc.h"
#include "hfreduce/transport/transport.h"
#include "hfreduce/tree.h"
#include "hfreduce/wait.h"

namespace hs::hfreduce {

// dst = combine(dst, src) over `bytes` bytes.
using CombineFn = void (*)(void* dst, const void* src, int64_t bytes);

// CombineAddF32: dst += src as f32. CombineOr: dst |= src byte-wise.
void CombineAddF32(void* dst, const void* src, int64_t bytes);
void CombineOr(void* dst, const void* src, int64_t bytes);

// LocalReduce: lets the tree produce the node's own contribution itself, one
// sub-chunk at a time, fused with the children's data (one pass over memory
// instead of a local reduce followed by a combine per child).
//
//   reduce(off, len, child, nchild, final): write data[off, off+len) =
//       local sum, then + child[0], then + child[1] (this order: the bits
//       are those of a local reduce followed by combines). `final` is true at
//       the root, where the sum is the result: the callee may emit it now.
//   result(off, len): data[off, off+len) now holds the result received from
//       the parent (never called for ranges reduce() got with final = true).
//
// Offsets and lengths are bytes relative to Run's `data`, multiples of align.
struct LocalReduce {
  void (*reduce)(void* self, int64_t off, int64_t len, const char* const* child,
                 int nchild, bool final) = nullptr;
  void (*result)(void* self, int64_t off, int64_t len) = nullptr;
  void* self = nullptr;
};

// The tags of the trees' control messages: a child's OpDesc going up tree t
// and the root's verdict coming down. The two-node exchange sends its
// OpDescs with tree 0's (pair_exchange.h), so that it meets a node running
// the trees in the op check.
constexpr int TagCtrlUp(int t) { return 100 + t; }
constexpr int TagCtrlDown(int t) { return 102 + t; }

struct TreeOptions {
  int64_t chunk_bytes = 256 << 10;  // pipeline sub-chunk
  int window = 4;                   // sub-chunks in flight per tree
};

class TreeAllReduce {
 public:
  // TreeAllReduce(transport, options): the transport's rank is the node.
  TreeAllReduce(Transport* transport, TreeOptions options);

  // TreeAllReduce::Run(data, bytes, align, combine, ctrl, ctx)
  //
  // Allreduces `bytes` bytes at `data` in place. Sub-chunk borders are
  // multiples of `align` (the element size). With ctrl != nullptr,
  // ctrl->desc is checked against every peer's and on return ctrl holds
  // the verdict; a mismatch is a FailedPrecondition error naming it.
  //
  // one_tree: all bytes travel on tree 0 (half the messages; for small
  // buffers, where latency and not bandwidth counts).
  //
  // local: when set, `data` holds nothing yet and local->reduce produces each
  // sub-chunk (fused with the children's data; `combine` is unused), and
  // local->result is told when a sub-chunk is final. With one node it is
  // one reduce(0, bytes, nullptr, 0, true).
  //
  // pair_exchange: with exactly two nodes, the one-hop exchange of
  // pair_exchange.h instead of the trees (same bits and bytes, half the
  // hops, one more pass over `data`; one_tree is then moot). Nodes that
  // disagree on it still meet in the op check and report the mismatch.
  absl::Status Run(void* data, int64_t bytes, int64_t align, CombineFn combine,
                   TreeCtrl* ctrl, const WaitContext& ctx, bool one_tree = false,
                   const LocalReduce* local = nullptr, bool pair_exchange = false);

  // TreeAllReduce::links(t): this node's links in tree t.
  const TreeLinks& links(int t) const { return links_[t]; }

 private:
  Transport* transport_;
  TreeOptions options_;
  TreeLinks links_[2];
  std::vector<char> scratch_;  // [tree][window][child][chunk]
  // Control messages live here so a pending send never points at a dead
  // stack frame: [tree] up-to-parent, from-children, from-parent.
  TreeCtrl up_ctrl_[2];
  TreeCtrl child_ctrl_[2][2];
  TreeCtrl parent_ctrl_[2];
};

}  // namespace hs::hfreduce

#endif  // HFREDUCE_TREE_ALLREDUCE_H_
