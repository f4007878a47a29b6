// File: hfreduce/gpu/staged_allreduce.h
//
// StagedAllReducer: HFReduce's GPU path. An AllReduce of a device buffer
// is cut into pieces (piece_plan.h) that flow through a ring of `depth`
// staging slots allocated once with Communicator::AllocShared, i.e. inside
// the node's shared segment and pinned by the copier (cudaHostRegister):
//
//   device ─D2H stream─> slot k ─HFReduce in place─> slot k ─H2D stream─> device
//
// The D2H lands straight in the shared segment and the slot is a
// registered buffer, so the node's ranks reduce it in place: the only host
// traffic is the reduction itself, no copy into or out of HFReduce's
// pipeline slots. Piece i's reduction (on the communicator's progress
// thread) overlaps the D2H of pieces i+1..i+depth-2 and the H2D of piece
// i-1. While a piece's copies take less time than its reduction, the next
// reduction is queued before the current one ends, so the CPUs never wait
// for a copy in the steady state. (With depth 3 the D2H of piece i+2 must
// wait for the H2D of piece i-1 to free its slot; depth 4 adds slack.)
//
// Results: every rank gets the same bits, run after run, and they equal a
// plain Communicator::AllReduce of each piece. With 1 or 2 nodes they also
// equal a plain AllReduce of the whole buffer (HFReduce's two trees add in
// the same order there); with 3 or more nodes the piece boundaries change
// which tree an element takes, so the last bit may differ from the
// unstaged call (not from run to run). See docs/hfreduce.md.
//
// Errors name the rank and the piece. A failed device-to-host copy aborts
// the communicator (its data would otherwise poison every rank's result);
// a failed host-to-device copy lets the collective finish (the other ranks'
// results are right) and fails this rank's call.
//
// Usage (every rank, same calls in the same order):
//   Options o; o.registered_bytes = StagedAllReducer::StagingBytes({});
//   auto comm = Communicator::Create(MPI_COMM_WORLD, o).value();
//   auto copier = CudaCopier::Create({.device = local_rank}).value();
//   auto staged = StagedAllReducer::Create(comm.get(), copier.get(), {}).value();
//   StagedHandle h = staged->AllReduceAsync(d_grads, n, DType::kBF16,
//                                           ReduceOp::kAverage);
//   ...; HS_RETURN_IF_ERROR(h.Wait());   // d_grads holds the average
#ifndef HFREDUCE_GPU_STAGED_ALLREDUCE_H_
#define HFREDUCE_GPU_STAGED_ALLREDUCE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/dtype.h"
#include "hfreduce/gpu/device_copier.h"
#include "hfreduce/hfreduce.h"

namespace hs::hfreduce::gpu {

struct StagedOptions {
  // Bytes per piece (rounded down to 64): the unit of copy and reduction.
  int64_t piece_bytes = 4 << 20;
  // Staging slots in the ring (>= 3: one in D2H, one being reduced, one in
  // H2D; more lets D2H run further ahead).
  int depth = 3;
};

namespace internal {
struct StagedCall;
}

// The result of StagedAllReducer::AllReduceAsync.
class StagedHandle {
 public:
  StagedHandle() = default;
  explicit StagedHandle(std::shared_ptr<internal::StagedCall> c) : call_(std::move(c)) {}

  // StagedHandle::Wait(): blocks until the device buffer holds the result
  // (every H2D copy finished); returns the call's status.
  absl::Status Wait();
  // StagedHandle::Test(): true once finished (then Wait() won't block).
  bool Test() const;
  bool valid() const { return call_ != nullptr; }

 private:
  std::shared_ptr<internal::StagedCall> call_;
};

class StagedAllReducer {
 public:
  // StagedAllReducer::StagingBytes(options): the Options::registered_bytes
  // the communicator needs for this reducer (depth slots).
  static int64_t StagingBytes(const StagedOptions& options);

  // StagedAllReducer::Create(comm, copier, options): allocates the staging
  // ring with comm->AllocShared and registers it with the copier. Borrows
  // comm and copier (they must outlive the reducer). Not collective.
  static absl::StatusOr<std::unique_ptr<StagedAllReducer>> Create(
      Communicator* comm, DeviceCopier* copier, const StagedOptions& options = StagedOptions());

  // ~StagedAllReducer(): finishes queued calls.
  ~StagedAllReducer();
  StagedAllReducer(const StagedAllReducer&) = delete;
  StagedAllReducer& operator=(const StagedAllReducer&) = delete;

  // StagedAllReducer::AllReduceAsync(device_buf, count, dtype, op)
  //
  // In place, like Communicator::AllReduceAsync, for a buffer the copier
  // reads and writes (device memory for CudaCopier). Calls run in call
  // order on a worker thread; the copies are ordered after the work the
  // copier's producer stream had queued at this call (BeginCall). The
  // buffer must stay valid, and unread by the device, until done. Do not
  // interleave with direct calls on `comm` from another thread: the pieces
  // are ordinary HFReduce calls and every rank must see the same order.
  StagedHandle AllReduceAsync(void* device_buf, int64_t count, DType dtype, ReduceOp op);

  // StagedAllReducer::AllReduce(...): AllReduceAsync(...).Wait(), run on
  // the calling thread when nothing is queued.
  absl::Status AllReduce(void* device_buf, int64_t count, DType dtype, ReduceOp op);

  int64_t slot_bytes() const { return slot_bytes_; }
  int depth() const { return depth_; }
  // The staging ring (depth * slot_bytes bytes in the shared segment).
  void* staging() const { return staging_; }

 private:
  StagedAllReducer(Communicator* comm, DeviceCopier* copier, int64_t slot_bytes, int depth,
                   char* staging);
  // Runs one call's pipeline to completion on the current thread.
  absl::Status Run(const internal::StagedCall& call);
  void WorkerLoop();
  char* Slot(int k) const { return staging_ + (k % depth_) * slot_bytes_; }

  Communicator* comm_;
  DeviceCopier* copier_;
  const int64_t slot_bytes_;
  const int depth_;
  char* staging_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<internal::StagedCall>> queue_;
  bool running_ = false;  // a call's pipeline is running (either thread)
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace hs::hfreduce::gpu

#endif  // HFREDUCE_GPU_STAGED_ALLREDUCE_H_
