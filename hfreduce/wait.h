// File: hfreduce/wait.h
//
// The one way HFReduce waits: poll a condition with backoff, give up at a
// deadline, stop at once when an abort flag is raised (NCCL's NCCLWAIT
// pattern). Spinning is brief and then yields the core, because ranks are
// often oversubscribed (several ranks per core in tests).
//
// Usage:
//   WaitContext ctx{&abort_flag, absl::Seconds(60)};
//   HS_RETURN_IF_ERROR(WaitFor(ctx, [&] { return counter->load() >= want; },
//                              [&] { return absl::StrCat("chunk ", g); }));
#ifndef HFREDUCE_WAIT_H_
#define HFREDUCE_WAIT_H_

#include <sched.h>
#include <time.h>

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hs::hfreduce {

// What every wait needs: the abort flag to poll and how long it may wait
// without progress.
struct WaitContext {
  const std::atomic<bool>* abort = nullptr;
  absl::Duration timeout = absl::Seconds(60);
  // Returns a reason when a peer aborted (e.g. the node's shared abort
  // flag); empty string means "no abort". Optional.
  std::string (*peer_abort)(const void* arg) = nullptr;
  const void* peer_abort_arg = nullptr;
};

// Backoff: spin a little, then yield the core, then sleep in short naps.
// The naps matter when ranks outnumber cores: a waiting rank that only
// yields keeps competing with the rank it waits for.
class Backoff {
 public:
  void Pause() {
    if (spins_ < 64) {
      __builtin_ia32_pause();
    } else if (spins_ < 64 + 4096) {
      sched_yield();
    } else {
      struct timespec nap = {0, 20000};  // 20 us
      nanosleep(&nap, nullptr);
    }
    ++spins_;
  }
  void Reset() { spins_ = 0; }

 private:
  int spins_ = 0;
};

// CheckAbort(ctx): an Aborted status when the local or a peer's abort flag
// is raised, OK otherwise.
inline absl::Status CheckAbort(const WaitContext& ctx) {
  if (ctx.abort != nullptr && ctx.abort->load(std::memory_order_relaxed)) {
    return absl::AbortedError("hfreduce: communicator aborted");
  }
  if (ctx.peer_abort != nullptr) {
    std::string reason = ctx.peer_abort(ctx.peer_abort_arg);
    if (!reason.empty()) return absl::AbortedError(reason);
  }
  return absl::OkStatus();
}

// WaitFor(ctx, ready, what)
//
// Polls ready() until it returns true. Returns DeadlineExceeded (naming
// what() and the timeout) after ctx.timeout, or Aborted when an abort flag
// is raised.
template <typename Ready, typename What>
absl::Status WaitFor(const WaitContext& ctx, Ready ready, What what) {
  if (ready()) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + ctx.timeout;
  Backoff backoff;
  for (int iter = 0;; ++iter) {
    if (ready()) return absl::OkStatus();
    if ((iter & 63) == 0) {
      absl::Status s = CheckAbort(ctx);
      if (!s.ok()) return s;
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("hfreduce: timed out after ",
                         absl::FormatDuration(ctx.timeout), " waiting for ",
                         what()));
      }
    }
    backoff.Pause();
  }
}

}  // namespace hs::hfreduce

#endif  // HFREDUCE_WAIT_H_
