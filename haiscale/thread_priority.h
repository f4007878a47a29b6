// File: haiscale/thread_priority.h
//
// Scheduling weight of one thread. Communication threads (DDP's bucket
// reducer, HFReduce's progress thread) share the cores with compute; under
// Linux's fair scheduler each runnable thread gets an equal share, so a
// reduction launched during backward crawls until backward ends and then
// shows as exposed time. A lower nice value for the communication thread
// only (Linux nice values are per thread) lets it run whenever it has work,
// which is rarely: it mostly waits on peers.
//
// The nice value sets the share, not how soon a thread runs once it is
// runnable again: under EEVDF (Linux 6.6+) a thread that yields or wakes
// while compute runs waits for the running thread's time slice to end
// (0.75 ms x (1 + log2 CPUs) by default, 1.5 ms on 2 cores, checked at the
// next tick). A communication thread waits on its peers dozens of
// times per bucket, so it also asks for a short slice (Linux 6.12+
// sched_setattr's sched_runtime for fair threads), which gives it an early
// deadline and lets it preempt compute within about that long.
//
// ThisThreadUsage() reads what a thread has cost the cores so far (CPU time,
// context switches), to see what a communication thread takes from compute;
// ThisProcessUsage() the same for all the process's threads.
//
// Usage (on the thread itself):
//   absl::Status s = RaiseThisThreadPriority(10);
//   if (!s.ok()) HS_LOG(WARN) << s.message();
//   s = SetThisThreadSlice(absl::Microseconds(100));
#ifndef HAISCALE_THREAD_PRIORITY_H_
#define HAISCALE_THREAD_PRIORITY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace hs {

// ThisThreadNice(): the calling thread's nice value (-20..19).
int ThisThreadNice();

// RaiseThisThreadPriority(levels): lowers the calling thread's nice value by
// `levels` (clamped at -20); levels <= 0 does nothing. Lowering a nice value
// needs CAP_SYS_NICE or a high enough RLIMIT_NICE: PermissionDenied then,
// saying so, and the thread keeps its priority.
absl::Status RaiseThisThreadPriority(int levels);

// SetThisThreadSlice(slice): the calling thread's time slice under the fair
// scheduler (Linux clamps it to 0.1-100 ms; needs no privilege). Zero
// does nothing. Unimplemented when the kernel has no sched_setattr;
// kernels before 6.12 accept it and keep their own slice.
absl::Status SetThisThreadSlice(absl::Duration slice);

// ThisThreadSlice(): the slice the calling thread asked for (sched_getattr's
// sched_runtime; zero for the kernel's default or where it is not kept).
absl::Duration ThisThreadSlice();
// ThreadSlice(tid): the same for thread `tid` of this process (a
// /proc/self/task entry).
absl::Duration ThreadSlice(int tid);

// What SetUpCommunicationThread did: each part OK, or why not.
struct CommThreadSetup {
  absl::Status priority;  // RaiseThisThreadPriority(levels)
  absl::Status slice;     // SetThisThreadSlice(slice)
};

// SetUpCommunicationThread(name, levels, slice): names the calling thread
// (top, perf, /proc; at most 15 characters), raises its priority by
// `levels` and asks for `slice`. The caller logs the failures its own way.
CommThreadSetup SetUpCommunicationThread(const char* name, int levels, absl::Duration slice);

// What the calling thread has used so far: CPU seconds (user + system,
// CLOCK_THREAD_CPUTIME_ID) and context switches (voluntary + involuntary,
// getrusage RUSAGE_THREAD). Subtract two readings for an interval.
struct ThreadUsage {
  double cpu_seconds = 0;
  int64_t switches = 0;
  ThreadUsage operator-(const ThreadUsage& o) const {
    return {cpu_seconds - o.cpu_seconds, switches - o.switches};
  }
};
ThreadUsage ThisThreadUsage();

// The same for the whole process, all its threads (CLOCK_PROCESS_CPUTIME_ID,
// RUSAGE_SELF): what a library that runs its own threads (a progress thread)
// costs the cores, next to the caller's.
ThreadUsage ThisProcessUsage();

}  // namespace hs

#endif  // HAISCALE_THREAD_PRIORITY_H_
