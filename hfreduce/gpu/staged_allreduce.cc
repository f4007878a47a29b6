// File: hfreduce/gpu/staged_allreduce.cc
//
// StagedAllReducer (see staged_allreduce.h). The pipeline of one call, for
// pieces 0..n-1 and slot(i) = i % depth, lookahead = depth - 2:
//
//   for i in 0..n-1:
//     issue D2H(j) for every j <= i + lookahead not yet issued
//         (slot(j) is free once H2D(j - depth) finished: WaitToDevice)
//     WaitToHost(slot(i)); queue HFReduce AllReduceAsync(slot(i))
//     wait HFReduce(i-1); issue H2D(i-1)
//   wait HFReduce(n-1); issue H2D(n-1); wait every H2D
//
// So while the progress thread reduces piece i (and has piece i+1 queued
// right behind it once the D2H lands), the D2H stream fills the next slots
// and the H2D stream drains piece i-1. A slot holds at most one of: a D2H
// in flight, a reduction, an H2D in flight, which is why depth >= 3.
#include "hfreduce/gpu/staged_allreduce.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "hfreduce/gpu/piece_plan.h"

namespace hs::hfreduce::gpu {

namespace internal {

struct StagedCall {
  void* buf = nullptr;
  int64_t count = 0;
  DType dtype = DType::kF32;
  ReduceOp op = ReduceOp::kSum;
  absl::Status begin;  // BeginCall's result (taken on the caller's thread)

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::Status status;

  void Finish(absl::Status s) {
    {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(s);
      done = true;
    }
    cv.notify_all();
  }
};

}  // namespace internal

absl::Status StagedHandle::Wait() {
  if (call_ == nullptr) {
    return absl::FailedPreconditionError("StagedHandle::Wait on an empty handle");
  }
  std::unique_lock<std::mutex> lock(call_->mu);
  call_->cv.wait(lock, [&] { return call_->done; });
  return call_->status;
}

bool StagedHandle::Test() const {
  if (call_ == nullptr) return false;
  std::lock_guard<std::mutex> lock(call_->mu);
  return call_->done;
}

int64_t StagedAllReducer::StagingBytes(const StagedOptions& options) {
  absl::StatusOr<int64_t> slot = StagingSlotBytes(options.piece_bytes);
  return slot.ok() ? *slot * std::max(options.depth, 0) : 0;
}

absl::StatusOr<std::unique_ptr<StagedAllReducer>> StagedAllReducer::Create(
    Communicator* comm, DeviceCopier* copier, const StagedOptions& options) {
  if (comm == nullptr || copier == nullptr) {
    return absl::InvalidArgumentError("StagedAllReducer: null communicator or copier");
  }
  if (options.depth < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("StagedAllReducer: depth ", options.depth,
                     " < 3 (a slot each for D2H, reduction and H2D)"));
  }
  absl::StatusOr<int64_t> slot = StagingSlotBytes(options.piece_bytes);
  if (!slot.ok()) return slot.status();
  const int64_t bytes = *slot * options.depth;
  absl::StatusOr<void*> staging = comm->AllocShared(bytes);
  if (!staging.ok()) {
    return absl::Status(
        staging.status().code(),
        absl::StrCat("StagedAllReducer on rank ", comm->rank(), ": the staging ring (",
                     options.depth, " x ", *slot, " bytes) must be a registered buffer; ",
                     "create the Communicator with Options::registered_bytes >= ",
                     "StagedAllReducer::StagingBytes(options): ", staging.status().message()));
  }
  absl::Status reg = copier->Register(*staging, bytes);
  if (!reg.ok()) {
    return absl::Status(reg.code(), absl::StrCat("StagedAllReducer on rank ", comm->rank(),
                                                 ": registering the staging ring with ",
                                                 copier->Describe(), ": ", reg.message()));
  }
  return std::unique_ptr<StagedAllReducer>(
      new StagedAllReducer(comm, copier, *slot, options.depth, static_cast<char*>(*staging)));
}

StagedAllReducer::StagedAllReducer(Communicator* comm, DeviceCopier* copier, int64_t slot_bytes,
                                   int depth, char* staging)
    : comm_(comm), copier_(copier), slot_bytes_(slot_bytes), depth_(depth), staging_(staging) {
  worker_ = std::thread([this] { WorkerLoop(); });
}

StagedAllReducer::~StagedAllReducer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

StagedHandle StagedAllReducer::AllReduceAsync(void* device_buf, int64_t count, DType dtype,
                                              ReduceOp op) {
  auto call = std::make_shared<internal::StagedCall>();
  call->buf = device_buf;
  call->count = count;
  call->dtype = dtype;
  call->op = op;
  call->begin = copier_->BeginCall();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(call);
  }
  cv_.notify_all();
  return StagedHandle(call);
}

absl::Status StagedAllReducer::AllReduce(void* device_buf, int64_t count, DType dtype,
                                         ReduceOp op) {
  bool inline_run = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty() && !running_) running_ = inline_run = true;
  }
  // Busy: queue behind the calls in flight, which keeps the call order.
  if (!inline_run) return AllReduceAsync(device_buf, count, dtype, op).Wait();
  // Idle: run on this thread and skip the hand-off to the worker and back.
  internal::StagedCall call;
  call.buf = device_buf;
  call.count = count;
  call.dtype = dtype;
  call.op = op;
  call.begin = copier_->BeginCall();
  absl::Status s = Run(call);
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
  }
  cv_.notify_all();
  return s;
}

void StagedAllReducer::WorkerLoop() {
  for (;;) {
    std::shared_ptr<internal::StagedCall> call;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return (!queue_.empty() && !running_) || (stop_ && queue_.empty()); });
      if (queue_.empty()) return;  // stop_ and drained
      call = queue_.front();
      queue_.pop_front();
      running_ = true;
    }
    absl::Status s = Run(*call);
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_ = false;
    }
    cv_.notify_all();
    call->Finish(std::move(s));
  }
}

absl::Status StagedAllReducer::Run(const internal::StagedCall& call) {
  const std::string who = absl::StrCat("staged allreduce on rank ", comm_->rank());
  if (!call.begin.ok()) {
    return absl::Status(
        call.begin.code(),
        absl::StrCat(who, ": ordering after the producer stream: ", call.begin.message()));
  }
  absl::StatusOr<std::vector<Piece>> planned = PlanPieces(call.count, call.dtype, slot_bytes_);
  if (!planned.ok()) {
    return absl::Status(planned.status().code(),
                        absl::StrCat(who, ": ", planned.status().message()));
  }
  const std::vector<Piece>& plan = *planned;
  const int n = static_cast<int>(plan.size());
  if (n > 0 && call.buf == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": null buffer"));
  }
  char* dev = static_cast<char*>(call.buf);
  const int lookahead = depth_ - 2;

  absl::Status first;  // the call's first error
  auto note = [&](int k, const char* step, const absl::Status& s) {
    if (s.ok() || !first.ok()) return;
    first = absl::Status(
        s.code(), absl::StrCat(who, ", ", DescribePiece(plan, k), ": ", step, ": ", s.message()));
  };
  // H2D(k) is waited for exactly once, in piece order, so a copy error is
  // attributed to the first piece whose wait covers it.
  int h2d_issued = 0, h2d_waited = 0;
  auto wait_h2d_through = [&](int k) {
    for (; h2d_waited <= k && h2d_waited < h2d_issued; ++h2d_waited) {
      note(h2d_waited, "host-to-device copy", copier_->WaitToDevice(h2d_waited % depth_));
    }
  };
  std::vector<Handle> reduces(n);
  int d2h_issued = 0, reduced_issued = 0, reduced_waited = 0;
  bool broken = false;  // stop issuing: the communicator is aborted or failed

  auto finish_reduce = [&](int k) {
    absl::Status s = reduces[k].Wait();
    reduced_waited = k + 1;
    if (!s.ok()) {
      note(k, "hfreduce", s);
      broken = true;  // the communicator fails every later call anyway
      return;
    }
    const Piece& p = plan[k];
    copier_->CopyToDeviceAsync(dev + p.byte_offset, Slot(k), p.bytes, k % depth_);
    h2d_issued = k + 1;
  };

  for (int i = 0; i < n && !broken; ++i) {
    for (; d2h_issued < n && d2h_issued <= i + lookahead; ++d2h_issued) {
      const int j = d2h_issued;
      // Slot(j) last held piece j - depth, whose H2D was issued at i - 1 or
      // earlier (j - depth <= i - 2).
      if (j >= depth_) wait_h2d_through(j - depth_);
      const Piece& p = plan[j];
      copier_->CopyToHostAsync(Slot(j), dev + p.byte_offset, p.bytes, j % depth_);
    }
    absl::Status d2h = copier_->WaitToHost(i % depth_);
    if (!d2h.ok()) {
      note(i, "device-to-host copy", d2h);
      // This rank cannot contribute piece i: without an abort the others
      // would wait for it until the timeout, or sum stale bytes.
      comm_->Abort(first.ToString());
      broken = true;
      break;
    }
    reduces[i] = comm_->AllReduceAsync(Slot(i), plan[i].count, call.dtype, call.op);
    reduced_issued = i + 1;
    if (i >= 1) finish_reduce(i - 1);
  }
  if (!broken && n > 0) finish_reduce(n - 1);

  // Drain before returning: the copies use the caller's buffer and the
  // reductions our slots.
  for (int k = reduced_waited; k < reduced_issued; ++k) {
    note(k, "hfreduce", reduces[k].Wait());
  }
  wait_h2d_through(n - 1);
  absl::Status sync = copier_->Synchronize();
  if (!sync.ok() && first.ok()) {
    first = absl::Status(sync.code(), absl::StrCat(who, ": copier: ", sync.message()));
  }
  return first;
}

}  // namespace hs::hfreduce::gpu
