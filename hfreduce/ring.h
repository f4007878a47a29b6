// File: hfreduce/ring.h
//
// RingPipe: the inter-node leg of HFReduce's ReduceScatter and AllGather.
// Each node talks to its two ring neighbours on one rail (local rank l of
// every node): it receives pieces from node-1 and sends pieces to node+1,
// in order, with a bounded number of requests in flight each way. A ring is
// what moves the minimal bytes for these collectives: every node sends and
// receives (n-1)/n of the data once, where an allreduce tree moves it up and
// down again.
//
// Pieces are matched by posting order (the Transport's non-overtaking rule):
// the k-th receive posted here gets the k-th piece node-1 sent with the same
// tag, so both sides must walk the same piece sequence.
//
// Usage:
//   RingPipe ring(transport, kTagReduceScatter, ctx, /*window=*/4);
//   HS_RETURN_IF_ERROR(ring.PostRecv(buf, bytes));   // ahead of time
//   HS_RETURN_IF_ERROR(ring.WaitRecv());             // oldest posted
//   HS_RETURN_IF_ERROR(ring.Send(piece, bytes));     // to node+1
//   HS_RETURN_IF_ERROR(ring.Drain());                // all sends done
#ifndef HFREDUCE_RING_H_
#define HFREDUCE_RING_H_

#include <cstdint>
#include <deque>

#include "absl/status/status.h"
#include "hfreduce/transport/transport.h"
#include "hfreduce/wait.h"

namespace hs::hfreduce {

// RingNext(n, node) / RingPrev(n, node): the ring neighbours of `node`.
inline int RingNext(int n, int node) { return (node + 1) % n; }
inline int RingPrev(int n, int node) { return (node + n - 1) % n; }

class RingPipe {
 public:
  // RingPipe(transport, tag, ctx, window): borrows the transport; `window`
  // bounds the sends in flight (receives are bounded by the caller).
  RingPipe(Transport* transport, int tag, const WaitContext& ctx, int window);
  // ~RingPipe(): cancels what is still pending (after an error).
  ~RingPipe();
  RingPipe(const RingPipe&) = delete;
  RingPipe& operator=(const RingPipe&) = delete;

  // RingPipe::PostRecv(buf, bytes): posts the next receive from node-1.
  absl::Status PostRecv(void* buf, int64_t bytes);
  // RingPipe::WaitRecv(): waits for the oldest posted receive.
  absl::Status WaitRecv();
  // RingPipe::posted_recvs(): receives posted and not yet waited for.
  int posted_recvs() const { return static_cast<int>(recvs_.size()); }

  // RingPipe::Send(buf, bytes): sends the next piece to node+1; buf must
  // stay untouched until WaitSends()/Drain() says it went. Waits for the
  // oldest send first when `window` are in flight.
  absl::Status Send(const void* buf, int64_t bytes);
  // RingPipe::WaitSends(keep): waits until at most `keep` sends are in flight.
  absl::Status WaitSends(int keep);
  // RingPipe::Drain(): WaitSends(0).
  absl::Status Drain() { return WaitSends(0); }
  // RingPipe::sends_done(): sends completed so far (the i-th Send's buffer
  // is free once sends_done() > i).
  int64_t sends_done() const { return sends_done_; }

  // RingPipe::Poll(): tests the pending requests without waiting, so the
  // transport moves them while this rank waits on something else (its
  // node's ranks). A large message needs both ends to make progress (MPI's
  // rendezvous, a TCP socket's full buffer): a rank that only spins on
  // shared memory while its send is in flight can stall its neighbour node,
  // and the neighbour's ranks stall this node. An error when one failed.
  absl::Status Poll();

 private:
  struct Pending {
    Transport::Request request;
    bool done = false;  // completed by Poll(); the transport released it
  };
  // Tests the requests of q from the oldest up to the first still pending.
  absl::Status PollQueue(std::deque<Pending>* q);
  absl::Status WaitOldest(std::deque<Pending>* q, const char* what);

  Transport* transport_;
  int tag_;
  WaitContext ctx_;
  int window_;
  int prev_, next_;
  std::deque<Pending> recvs_, sends_;
  int64_t sends_done_ = 0;
};

}  // namespace hs::hfreduce

#endif  // HFREDUCE_RING_H_
