// File: hfreduce/transport/transport.h
//
// The point-to-point interface HFReduce's inter-node phase runs on. The tree
// algorithm (tree_allreduce.h) only sees this interface, never MPI or
// sockets (NCCL keeps transport and algorithm apart the same way). Peers are
// node indices on one "rail": local rank l of every node talks only to local
// rank l of the other nodes.
//
// Messages between one pair of peers with the same tag are matched in the
// order they were posted (MPI's non-overtaking rule); the tree relies on it.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(Transport::Request r, t->Irecv(peer, tag, buf, n));
//   HS_ASSIGN_OR_RETURN(bool done, t->Test(r));
#ifndef HFREDUCE_TRANSPORT_TRANSPORT_H_
#define HFREDUCE_TRANSPORT_TRANSPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace hs::hfreduce {

class Transport {
 public:
  // An outstanding send or receive; valid until Test() returns true or
  // Cancel() is called.
  using Request = int64_t;

  virtual ~Transport() = default;

  // Transport::name(): "mpi", "tcp", ... for logs.
  virtual std::string name() const = 0;
  // Transport::rank() / size(): this peer's index and the number of peers.
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Transport::Isend(peer, tag, buf, bytes): starts sending; buf must stay
  // untouched until the request completes.
  virtual absl::StatusOr<Request> Isend(int peer, int tag, const void* buf,
                                        int64_t bytes) = 0;
  // Transport::Irecv(peer, tag, buf, bytes): starts receiving exactly
  // `bytes` bytes; a message of another size completes with an error.
  virtual absl::StatusOr<Request> Irecv(int peer, int tag, void* buf,
                                        int64_t bytes) = 0;
  // Transport::Test(request): true when complete (the request is then
  // released), false when still pending, an error when it failed.
  virtual absl::StatusOr<bool> Test(Request request) = 0;
  // Transport::Cancel(request): abandons a pending request (error paths).
  virtual void Cancel(Request request) = 0;
};

}  // namespace hs::hfreduce

#endif  // HFREDUCE_TRANSPORT_TRANSPORT_H_
