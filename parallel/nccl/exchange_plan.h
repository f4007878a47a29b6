// File: parallel/nccl/exchange_plan.h
//
// ExchangePlan: the byte ranges of an all-to-all-v between the ranks of a
// group, in the form NCCL point-to-point calls need (one send and one
// receive per peer, with offsets into one send and one receive buffer).
// Plain C++ so the bookkeeping is tested without a GPU; NcclComm
// (nccl_comm.h) executes a plan, and the MPI path of expert parallelism
// describes the same exchange with counts and displacements.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(ExchangePlan plan,
//       ExchangePlan::FromCounts(send_rows, recv_rows, row_bytes, rank));
//   for (const PeerRange& r : plan.sends) ... r.peer, r.offset, r.bytes
#ifndef PARALLEL_NCCL_EXCHANGE_PLAN_H_
#define PARALLEL_NCCL_EXCHANGE_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace hs::parallel {

// One peer's part of a buffer: bytes [offset, offset + bytes).
struct PeerRange {
  int peer = 0;
  int64_t offset = 0;
  int64_t bytes = 0;
};

struct ExchangePlan {
  std::vector<PeerRange> sends;  // one per peer, in peer order (bytes may be 0)
  std::vector<PeerRange> recvs;
  int64_t send_bytes = 0;        // total; the send buffer holds at least this
  int64_t recv_bytes = 0;

  // ExchangePlan::FromCounts(send_counts, recv_counts, unit_bytes, rank)
  //
  // send_counts[p] units go to peer p, packed in peer order in the send
  // buffer; recv_counts[p] units come from peer p, packed likewise. Both
  // vectors have one entry per rank of the group. InvalidArgument (naming
  // `rank` and the peer) for negative counts, mismatched lengths or a
  // non-positive unit.
  static absl::StatusOr<ExchangePlan> FromCounts(const std::vector<int64_t>& send_counts,
                                                 const std::vector<int64_t>& recv_counts,
                                                 int64_t unit_bytes, int rank);
};

}  // namespace hs::parallel

#endif  // PARALLEL_NCCL_EXCHANGE_PLAN_H_
