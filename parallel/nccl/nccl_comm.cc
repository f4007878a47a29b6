// File: parallel/nccl/nccl_comm.cc — see nccl_comm.h.
#include "parallel/nccl/nccl_comm.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "haiscale/cuda/error.h"
#include "haiscale/cuda/nccl_error.h"
#include "haiscale/status.h"

namespace hs::parallel {

absl::StatusOr<std::unique_ptr<NcclComm>> NcclComm::Create(MPI_Comm comm, int device) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  ncclUniqueId id{};
  absl::Status id_status;
  if (rank == 0) id_status = HS_NCCL_STATUS(ncclGetUniqueId(&id));
  // Rank 0 sends an all-zero id after a failure; everyone then fails.
  int ok = id_status.ok();
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  if (!ok) {
    return absl::UnavailableError(absl::StrCat(
        "rank ", rank, ": rank 0 of the group could not create the NCCL id",
        rank == 0 ? absl::StrCat(": ", id_status.message()) : std::string()));
  }
  int rc = MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, comm);
  if (rc != MPI_SUCCESS) {
    return absl::UnavailableError(absl::StrCat("rank ", rank, ": MPI_Bcast(NCCL id) failed"));
  }
  return CreateFromId(id, rank, size, device);
}

absl::StatusOr<std::unique_ptr<NcclComm>> NcclComm::CreateFromId(const ncclUniqueId& id, int rank,
                                                                 int size, int device) {
  std::unique_ptr<NcclComm> c(new NcclComm());
  c->rank_ = rank;
  c->size_ = size;
  c->device_ = device;
  HS_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  absl::Status s = HS_NCCL_STATUS(ncclCommInitRank(&c->comm_, size, id, rank));
  if (!s.ok()) {
    c->comm_ = nullptr;
    return Annotate(s, "rank ", rank, " of ", size, " on device ", device);
  }
  return c;
}

NcclComm::~NcclComm() {
  if (comm_ == nullptr) return;
  if (aborted_) {
    ncclCommAbort(comm_);
  } else {
    ncclCommDestroy(comm_);
  }
}

absl::Status NcclComm::CheckPeer(int peer, const char* what) const {
  if (peer < 0 || peer >= size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank_, ": ", what, " peer ", peer, " outside the group of ", size_));
  }
  return absl::OkStatus();
}

absl::Status NcclComm::AllToAllV(const void* send, void* recv, const ExchangePlan& plan,
                                 cudaStream_t stream) {
  if (static_cast<int>(plan.sends.size()) != size_ ||
      static_cast<int>(plan.recvs.size()) != size_) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank_, ": exchange plan for ",
                                                   plan.sends.size(), " peers, group has ", size_));
  }
  const char* s = static_cast<const char*>(send);
  char* r = static_cast<char*>(recv);
  HS_NCCL_RETURN_IF_ERROR(ncclGroupStart());
  for (int p = 0; p < size_; ++p) {
    const PeerRange& out = plan.sends[p];
    const PeerRange& in = plan.recvs[p];
    if (out.bytes > 0) {
      ncclResult_t e = ncclSend(s + out.offset, out.bytes, ncclUint8, p, comm_, stream);
      if (e != ncclSuccess) {
        ncclGroupEnd();
        return Annotate(HS_NCCL_STATUS(e), "rank ", rank_, " send to ", p);
      }
    }
    if (in.bytes > 0) {
      ncclResult_t e = ncclRecv(r + in.offset, in.bytes, ncclUint8, p, comm_, stream);
      if (e != ncclSuccess) {
        ncclGroupEnd();
        return Annotate(HS_NCCL_STATUS(e), "rank ", rank_, " receive from ", p);
      }
    }
  }
  HS_NCCL_RETURN_IF_ERROR(ncclGroupEnd());
  return absl::OkStatus();
}

absl::Status NcclComm::SendRecv(const void* send, int64_t send_bytes, int to, void* recv,
                                int64_t recv_bytes, int from, cudaStream_t stream) {
  const bool do_send = send != nullptr && to >= 0 && send_bytes > 0;
  const bool do_recv = recv != nullptr && from >= 0 && recv_bytes > 0;
  if (do_send) HS_RETURN_IF_ERROR(CheckPeer(to, "send"));
  if (do_recv) HS_RETURN_IF_ERROR(CheckPeer(from, "receive"));
  HS_NCCL_RETURN_IF_ERROR(ncclGroupStart());
  ncclResult_t e = ncclSuccess;
  if (do_send) e = ncclSend(send, send_bytes, ncclUint8, to, comm_, stream);
  if (e == ncclSuccess && do_recv) e = ncclRecv(recv, recv_bytes, ncclUint8, from, comm_, stream);
  if (e != ncclSuccess) {
    ncclGroupEnd();
    return Annotate(HS_NCCL_STATUS(e), "rank ", rank_, " send to ", to, " / receive from ", from);
  }
  HS_NCCL_RETURN_IF_ERROR(ncclGroupEnd());
  return absl::OkStatus();
}

absl::Status NcclComm::Wait(cudaStream_t stream, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (int spin = 0;; ++spin) {
    cudaError_t q = cudaStreamQuery(stream);
    if (q == cudaSuccess) return absl::OkStatus();
    if (q != cudaErrorNotReady) {
      aborted_ = true;
      return Annotate(hs::cuda::CudaErrorToStatus(q, "cudaStreamQuery", __FILE__, __LINE__),
                      "rank ", rank_);
    }
    ncclResult_t async = ncclSuccess;
    absl::Status s = HS_NCCL_STATUS(ncclCommGetAsyncError(comm_, &async));
    if (s.ok() && async != ncclSuccess && async != ncclInProgress) {
      s = HS_NCCL_STATUS(async);
    }
    if (!s.ok()) {
      aborted_ = true;
      return Annotate(s, "rank ", rank_, ": NCCL failed (a peer died or errored)");
    }
    if (absl::Now() > deadline) {
      aborted_ = true;
      return absl::DeadlineExceededError(
          absl::StrCat("rank ", rank_, ": NCCL operation did not finish within ",
                       absl::FormatDuration(timeout), " (a peer is dead or stuck); aborting"));
    }
    if (spin > 100) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace hs::parallel
