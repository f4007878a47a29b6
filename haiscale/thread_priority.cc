// File: haiscale/thread_priority.cc — see thread_priority.h.
#include "haiscale/thread_priority.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hs {
namespace {

// setpriority/getpriority with PRIO_PROCESS and a thread id act on that
// thread alone on Linux.
id_t ThisThreadId() { return static_cast<id_t>(syscall(SYS_gettid)); }

// The kernel's struct sched_attr (include/uapi/linux/sched/types.h), which
// glibc does not declare; sched_setattr/sched_getattr go through syscall().
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;  // ns; the fair scheduler's slice since Linux 6.12
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

constexpr uint32_t kSchedNormal = 0;  // SCHED_OTHER

}  // namespace

int ThisThreadNice() {
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, ThisThreadId());
  return errno == 0 ? nice : 0;
}

absl::Status RaiseThisThreadPriority(int levels) {
  if (levels <= 0) return absl::OkStatus();
  const int from = ThisThreadNice();
  const int to = std::max(-20, from - levels);
  if (to == from) return absl::OkStatus();
  if (setpriority(PRIO_PROCESS, ThisThreadId(), to) == 0) return absl::OkStatus();
  const int err = errno;
  if (err == EPERM || err == EACCES) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot raise this thread's priority from nice ", from, " to ", to, " (",
        std::strerror(err), "): it needs CAP_SYS_NICE or `ulimit -e ", 20 - to,
        "`; the thread keeps sharing the cores equally"));
  }
  return absl::InternalError(
      absl::StrCat("setpriority(nice ", to, "): ", std::strerror(err)));
}

absl::Status SetThisThreadSlice(absl::Duration slice) {
  if (slice <= absl::ZeroDuration()) return absl::OkStatus();
  if (sched_getscheduler(0) != SCHED_OTHER) {
    return absl::FailedPreconditionError("a time slice applies to SCHED_OTHER threads only");
  }
  SchedAttr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.sched_policy = kSchedNormal;
  attr.sched_nice = ThisThreadNice();  // sched_setattr sets the nice value too: keep it
  attr.sched_runtime = uint64_t(absl::ToInt64Nanoseconds(slice));
  if (syscall(SYS_sched_setattr, 0, &attr, 0) == 0) return absl::OkStatus();
  const int err = errno;
  if (err == ENOSYS) {
    return absl::UnimplementedError("sched_setattr: not available on this kernel");
  }
  return absl::InternalError(absl::StrCat("sched_setattr(slice ", absl::FormatDuration(slice),
                                          "): ", std::strerror(err)));
}

absl::Duration ThisThreadSlice() { return ThreadSlice(0); }

absl::Duration ThreadSlice(int tid) {
  SchedAttr attr;
  std::memset(&attr, 0, sizeof(attr));
  if (syscall(SYS_sched_getattr, tid, &attr, sizeof(attr), 0) != 0) return absl::ZeroDuration();
  return absl::Nanoseconds(int64_t(attr.sched_runtime));
}

CommThreadSetup SetUpCommunicationThread(const char* name, int levels, absl::Duration slice) {
  pthread_setname_np(pthread_self(), name);
  return {RaiseThisThreadPriority(levels), SetThisThreadSlice(slice)};
}

namespace {

ThreadUsage UsageOf(clockid_t clock, int who) {
  ThreadUsage u;
  struct timespec ts;
  if (clock_gettime(clock, &ts) == 0) {
    u.cpu_seconds = double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  struct rusage ru;
  if (getrusage(who, &ru) == 0) u.switches = ru.ru_nvcsw + ru.ru_nivcsw;
  return u;
}

}  // namespace

ThreadUsage ThisThreadUsage() { return UsageOf(CLOCK_THREAD_CPUTIME_ID, RUSAGE_THREAD); }

ThreadUsage ThisProcessUsage() { return UsageOf(CLOCK_PROCESS_CPUTIME_ID, RUSAGE_SELF); }

}  // namespace hs
