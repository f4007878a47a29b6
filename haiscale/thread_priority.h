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
// Usage (on the thread itself):
//   absl::Status s = RaiseThisThreadPriority(10);
//   if (!s.ok()) HS_LOG(WARN) << s.message();
#ifndef HAISCALE_THREAD_PRIORITY_H_
#define HAISCALE_THREAD_PRIORITY_H_

#include "absl/status/status.h"

namespace hs {

// ThisThreadNice(): the calling thread's nice value (-20..19).
int ThisThreadNice();

// RaiseThisThreadPriority(levels): lowers the calling thread's nice value by
// `levels` (clamped at -20); levels <= 0 does nothing. Lowering a nice value
// needs CAP_SYS_NICE or a high enough RLIMIT_NICE: PermissionDenied then,
// saying so, and the thread keeps its priority.
absl::Status RaiseThisThreadPriority(int levels);

}  // namespace hs

#endif  // HAISCALE_THREAD_PRIORITY_H_
