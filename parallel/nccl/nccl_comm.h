// File: parallel/nccl/nccl_comm.h
//
// NcclComm: the GPU-to-GPU transport of expert parallelism (the all-to-all
// of token rows) and pipeline parallelism (activations and gradients to
// the next/previous stage) when ranks drive GPUs. One communicator per
// group (the EP group, the PP pair), built from the group's MPI
// communicator: its rank 0 makes the NCCL unique id and MPI broadcasts it.
//
// All calls are asynchronous on the caller's stream. Wait() is the only
// blocking call: it polls the stream and NCCL's asynchronous error, and
// after `timeout` without completion (a dead or stuck peer) it aborts the
// communicator and returns DeadlineExceeded naming the rank, so a failed
// job exits instead of hanging in a kernel that never finishes.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto nccl, NcclComm::Create(ep_comm, local_rank));
//   HS_ASSIGN_OR_RETURN(ExchangePlan plan, ExchangePlan::FromCounts(...));
//   HS_RETURN_IF_ERROR(nccl->AllToAllV(send, recv, plan, stream));
//   HS_RETURN_IF_ERROR(nccl->Wait(stream, absl::Seconds(60)));
#ifndef PARALLEL_NCCL_NCCL_COMM_H_
#define PARALLEL_NCCL_NCCL_COMM_H_

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "parallel/nccl/exchange_plan.h"

namespace hs::parallel {

class NcclComm {
 public:
  // NcclComm::Create(comm, device): collective over `comm`; selects CUDA
  // device `device` (usually the local rank) for this thread.
  static absl::StatusOr<std::unique_ptr<NcclComm>> Create(MPI_Comm comm, int device);

  // NcclComm::CreateFromId(id, rank, size, device): for callers that share
  // the id themselves (tests with one rank, launchers without MPI).
  static absl::StatusOr<std::unique_ptr<NcclComm>> CreateFromId(const ncclUniqueId& id, int rank,
                                                                int size, int device);

  // ~NcclComm(): ncclCommDestroy, or ncclCommAbort after a failed Wait.
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // NcclComm::AllToAllV(send, recv, plan, stream): every peer p gets the
  // bytes plan.sends[p] of `send` into its plan.recvs[me] of `recv`; one
  // NCCL group, so the sends and receives progress together.
  absl::Status AllToAllV(const void* send, void* recv, const ExchangePlan& plan,
                         cudaStream_t stream);

  // NcclComm::SendRecv(send, send_bytes, to, recv, recv_bytes, from,
  // stream): one grouped send and/or receive (a null buffer or a negative
  // peer skips that half): the pipeline's activation/gradient hand-off.
  absl::Status SendRecv(const void* send, int64_t send_bytes, int to, void* recv,
                        int64_t recv_bytes, int from, cudaStream_t stream);

  // NcclComm::Wait(stream, timeout): blocks until `stream` is idle; fails
  // (and aborts the communicator) on an NCCL error or after `timeout`.
  absl::Status Wait(cudaStream_t stream, absl::Duration timeout);

  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  NcclComm() = default;
  absl::Status CheckPeer(int peer, const char* what) const;

  ncclComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1, device_ = 0;
  bool aborted_ = false;
};

}  // namespace hs::parallel

#endif  // PARALLEL_NCCL_NCCL_COMM_H_
