// File: haiscale/thread_priority.cc — see thread_priority.h.
#include "haiscale/thread_priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hs {
namespace {

// setpriority/getpriority with PRIO_PROCESS and a thread id act on that
// thread alone on Linux.
id_t ThisThreadId() { return static_cast<id_t>(syscall(SYS_gettid)); }

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

}  // namespace hs
