// File: hfreduce/ring.cc — ordered piece streams to the ring neighbours;
// see ring.h.
#include "hfreduce/ring.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"

namespace hs::hfreduce {

RingPipe::RingPipe(Transport* transport, int tag, const WaitContext& ctx, int window)
    : transport_(transport),
      tag_(tag),
      ctx_(ctx),
      window_(std::max(1, window)),
      prev_(RingPrev(transport->size(), transport->rank())),
      next_(RingNext(transport->size(), transport->rank())) {}

RingPipe::~RingPipe() {
  for (auto* q : {&recvs_, &sends_}) {
    for (const Pending& p : *q) {
      if (!p.done) transport_->Cancel(p.request);
    }
  }
}

absl::Status RingPipe::PostRecv(void* buf, int64_t bytes) {
  HS_ASSIGN_OR_RETURN(Transport::Request r, transport_->Irecv(prev_, tag_, buf, bytes));
  recvs_.push_back({r});
  return absl::OkStatus();
}

absl::Status RingPipe::WaitRecv() {
  if (recvs_.empty()) return absl::InternalError("RingPipe::WaitRecv: nothing posted");
  return WaitOldest(&recvs_, "a piece from the previous node");
}

absl::Status RingPipe::Send(const void* buf, int64_t bytes) {
  HS_RETURN_IF_ERROR(WaitSends(window_ - 1));
  HS_ASSIGN_OR_RETURN(Transport::Request r, transport_->Isend(next_, tag_, buf, bytes));
  sends_.push_back({r});
  return absl::OkStatus();
}

absl::Status RingPipe::WaitSends(int keep) {
  while (static_cast<int>(sends_.size()) > keep) {
    HS_RETURN_IF_ERROR(WaitOldest(&sends_, "a piece to the next node"));
    ++sends_done_;
  }
  return absl::OkStatus();
}

absl::Status RingPipe::PollQueue(std::deque<Pending>* q) {
  for (auto it = q->begin(); it != q->end(); ++it) {
    if (it->done) continue;
    absl::StatusOr<bool> done = transport_->Test(it->request);
    if (!done.ok()) {
      q->erase(it);  // released by the transport; the rest are cancelled later
      return done.status();
    }
    if (!*done) break;
    it->done = true;
  }
  return absl::OkStatus();
}

absl::Status RingPipe::Poll() {
  HS_RETURN_IF_ERROR(PollQueue(&recvs_));
  return PollQueue(&sends_);
}

absl::Status RingPipe::WaitOldest(std::deque<Pending>* q, const char* what) {
  if (q->front().done) {
    q->pop_front();
    return absl::OkStatus();
  }
  absl::Status failed;
  absl::Status s = WaitFor(
      ctx_,
      [&] {
        absl::StatusOr<bool> done = transport_->Test(q->front().request);
        if (!done.ok()) {
          failed = done.status();
          return true;
        }
        return *done;
      },
      [&] {
        return absl::StrCat(what, " (ring ", prev_, " -> ", transport_->rank(), " -> ",
                            next_, " on ", transport_->name(), ")");
      });
  if (failed.ok() && s.ok()) {
    q->pop_front();
    return absl::OkStatus();
  }
  // A failed request is released by the transport; a timed-out one is
  // cancelled by the destructor.
  if (!failed.ok()) q->pop_front();
  return failed.ok() ? s : failed;
}

}  // namespace hs::hfreduce
