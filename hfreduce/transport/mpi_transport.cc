// File: hfreduce/transport/mpi_transport.cc — see mpi_transport.h.
#include "hfreduce/transport/mpi_transport.h"

#include <climits>

#include "absl/strings/str_cat.h"

namespace hs::hfreduce {

absl::Status MpiErrorToStatus(int code, const std::string& what) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return absl::InternalError(
      absl::StrCat(what, ": MPI error ", code, " (", std::string(text, len), ")"));
}

MpiTransport::MpiTransport(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiTransport::~MpiTransport() {
  for (Slot& s : slots_) {
    if (s.req != MPI_REQUEST_NULL) {
      MPI_Cancel(&s.req);
      MPI_Request_free(&s.req);
    }
  }
}

absl::StatusOr<Transport::Request> MpiTransport::Alloc(const Slot& slot) {
  if (!free_.empty()) {
    Request id = free_.back();
    free_.pop_back();
    slots_[id] = slot;
    return id;
  }
  slots_.push_back(slot);
  return static_cast<Request>(slots_.size() - 1);
}

absl::StatusOr<Transport::Request> MpiTransport::Isend(int peer, int tag,
                                                       const void* buf,
                                                       int64_t bytes) {
  if (bytes > INT_MAX) return absl::InvalidArgumentError("mpi transport: message > 2 GiB");
  Slot slot{MPI_REQUEST_NULL, false, peer, bytes};
  int rc = MPI_Isend(buf, static_cast<int>(bytes), MPI_BYTE, peer, tag, comm_,
                     &slot.req);
  if (rc != MPI_SUCCESS) {
    return MpiErrorToStatus(rc, absl::StrCat("MPI_Isend to node ", peer));
  }
  return Alloc(slot);
}

absl::StatusOr<Transport::Request> MpiTransport::Irecv(int peer, int tag,
                                                       void* buf,
                                                       int64_t bytes) {
  if (bytes > INT_MAX) return absl::InvalidArgumentError("mpi transport: message > 2 GiB");
  Slot slot{MPI_REQUEST_NULL, true, peer, bytes};
  int rc = MPI_Irecv(buf, static_cast<int>(bytes), MPI_BYTE, peer, tag, comm_,
                     &slot.req);
  if (rc != MPI_SUCCESS) {
    return MpiErrorToStatus(rc, absl::StrCat("MPI_Irecv from node ", peer));
  }
  return Alloc(slot);
}

absl::StatusOr<bool> MpiTransport::Test(Request request) {
  Slot& slot = slots_[request];
  int done = 0;
  MPI_Status status;
  int rc = MPI_Test(&slot.req, &done, &status);
  if (rc != MPI_SUCCESS) {
    free_.push_back(request);
    return MpiErrorToStatus(
        rc, absl::StrCat(slot.is_recv ? "receive from node " : "send to node ",
                         slot.peer));
  }
  if (!done) return false;
  free_.push_back(request);
  if (slot.is_recv) {
    int got = 0;
    MPI_Get_count(&status, MPI_BYTE, &got);
    if (status.MPI_ERROR != MPI_SUCCESS && status.MPI_ERROR != MPI_ERR_IN_STATUS &&
        got != slot.bytes) {
      return MpiErrorToStatus(status.MPI_ERROR,
                              absl::StrCat("receive from node ", slot.peer));
    }
    if (got != slot.bytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "message size mismatch from node ", slot.peer, ": expected ",
          slot.bytes, " bytes, got ", got));
    }
  }
  return true;
}

void MpiTransport::Cancel(Request request) {
  Slot& slot = slots_[request];
  if (slot.req != MPI_REQUEST_NULL) {
    MPI_Cancel(&slot.req);
    MPI_Request_free(&slot.req);
  }
  free_.push_back(request);
}

}  // namespace hs::hfreduce
