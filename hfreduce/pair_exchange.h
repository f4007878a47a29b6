// File: hfreduce/pair_exchange.h
//
// The inter-node phase for exactly two nodes. A binary tree over two nodes
// is one edge: a sub-chunk goes up to the root and its sum comes back down,
// two hops in a row. Here both nodes send their partial sum at once and
// each adds the one it receives, one hop:
//
//     node 0: P0 ──────> node 1: P1 + P0
//     node 0: P0 + P1 <────── P1 :node 1
//
// The bits are the tree's: the root computes (own partial) + (child's
// partial) with one f32 addition per element, and addition of two operands
// is commutative in IEEE arithmetic, so P0 + P1 and P1 + P0 are the same
// bits on both nodes (byte-wise OR likewise). The bytes on the wire are
// those of the double binary tree over two nodes: each node sends the
// buffer's size once and receives it once.
//
// With ctrl, the two nodes swap their OpDescs first; data from the peer is
// received only once they matched, and both report the verdict tree 0's
// root would (node 1's call is the reference).
#ifndef HFREDUCE_PAIR_EXCHANGE_H_
#define HFREDUCE_PAIR_EXCHANGE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "hfreduce/op_desc.h"
#include "hfreduce/transport/transport.h"
#include "hfreduce/tree_allreduce.h"
#include "hfreduce/wait.h"

namespace hs::hfreduce {

// Memory that outlives a call's pending requests (owned by TreeAllReduce).
struct PairExchangeBuffers {
  char* scratch = nullptr;  // window x chunk_bytes: the peer's sub-chunks
  int window = 4;           // sub-chunks in flight
  int64_t chunk_bytes = 0;  // sub-chunk size
  TreeCtrl* mine = nullptr;    // my OpDesc, as sent
  TreeCtrl* theirs = nullptr;  // the peer's, as received
};

// PairExchangeAllReduce: TreeAllReduce::Run for a transport of size 2 (same
// arguments and contract; there is one stream, not two trees).
absl::Status PairExchangeAllReduce(Transport* transport, const PairExchangeBuffers& buffers,
                                   void* data, int64_t bytes, int64_t align, CombineFn combine,
                                   TreeCtrl* ctrl, const WaitContext& ctx,
                                   const LocalReduce* local);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_PAIR_EXCHANGE_H_
