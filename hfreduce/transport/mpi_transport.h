// File: hfreduce/transport/mpi_transport.h
//
// Transport over MPI point-to-point (MPI_Isend / MPI_Irecv / MPI_Test) on a
// communicator whose ranks are the peers. HFReduce's default inter-node
// transport. The communicator must have MPI_ERRORS_RETURN set (the
// Communicator does this) so failures come back as Status.
//
// Usage:
//   MpiTransport t(rail_comm);   // rank in rail_comm == node index
//   HS_ASSIGN_OR_RETURN(auto req, t.Isend(peer, tag, buf, bytes));
#ifndef HFREDUCE_TRANSPORT_MPI_TRANSPORT_H_
#define HFREDUCE_TRANSPORT_MPI_TRANSPORT_H_

#include <mpi.h>

#include <vector>

#include "absl/status/status.h"
#include "hfreduce/transport/transport.h"

namespace hs::hfreduce {

// MpiErrorToStatus(code, what): converts an MPI return code (OK -> OK).
absl::Status MpiErrorToStatus(int code, const std::string& what);

class MpiTransport : public Transport {
 public:
  // MpiTransport(comm): does not take ownership of comm.
  explicit MpiTransport(MPI_Comm comm);
  ~MpiTransport() override;

  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  absl::StatusOr<Request> Isend(int peer, int tag, const void* buf,
                                int64_t bytes) override;
  absl::StatusOr<Request> Irecv(int peer, int tag, void* buf,
                                int64_t bytes) override;
  absl::StatusOr<bool> Test(Request request) override;
  void Cancel(Request request) override;

 private:
  struct Slot {
    MPI_Request req = MPI_REQUEST_NULL;
    bool is_recv = false;
    int peer = -1;
    int64_t bytes = 0;
  };
  absl::StatusOr<Request> Alloc(const Slot& slot);

  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
  std::vector<Slot> slots_;
  std::vector<Request> free_;
};

}  // namespace hs::hfreduce

#endif  // HFREDUCE_TRANSPORT_MPI_TRANSPORT_H_
