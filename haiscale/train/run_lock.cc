// File: haiscale/train/run_lock.cc — see run_lock.h.
#include "haiscale/train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::train {
namespace {

// "pid 123 on host node7, started 2026-01-02T03:04:05Z: hai train ..."
std::string HolderLine() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  char when[32] = "?";
  const std::time_t now = std::time(nullptr);
  std::tm tm;
  if (gmtime_r(&now, &tm)) std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string cmd;
  std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
  for (std::string arg; std::getline(cmdline, arg, '\0');) {
    if (!cmd.empty()) cmd += ' ';
    cmd += arg;
  }
  if (cmd.size() > 200) cmd = cmd.substr(0, 197) + "...";
  return absl::StrCat("pid ", getpid(), " on host ", host, ", started ", when,
                      cmd.empty() ? "" : ": ", cmd);
}

// The holder line recorded in the open lock file (may be empty).
std::string ReadHolder(int fd) {
  std::string text;
  char buf[512];
  ssize_t n;
  off_t off = 0;
  while ((n = pread(fd, buf, sizeof(buf), off)) > 0 && text.size() < 4096) {
    text.append(buf, size_t(n));
    off += n;
  }
  return std::string(absl::StripAsciiWhitespace(text));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunDirLock>> RunDirLock::Acquire(const std::string& dir,
                                                                std::string* previous_holder) {
  HS_RETURN_IF_ERROR(io::CreateDirectories(dir));
  const std::string path = dir + "/" + kRunLockFile;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("cannot open the run lock ", path));
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    const std::string holder = ReadHolder(fd);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " is in use by another job (", holder.empty() ? "holder unknown" : holder,
          "; it holds ", path,
          "). Two jobs in one run directory would mix their metrics and checkpoints: "
          "use another --output-dir, or wait for that job to end"));
    }
    return ErrnoToStatus(err, absl::StrCat("cannot lock ", path));
  }
  // The lock is ours: a holder line still in the file is from a job that
  // died without releasing (the kernel dropped its lock when it exited).
  if (previous_holder) *previous_holder = ReadHolder(fd);
  const std::string line = HolderLine() + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, line.data(), line.size(), 0) != ssize_t(line.size())) {
    const int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, absl::StrCat("cannot write ", path));
  }
  return std::unique_ptr<RunDirLock>(new RunDirLock(fd, path));
}

RunDirLock::~RunDirLock() {
  // Empty the file but leave it in place: unlinking it would race with a
  // job that opened it and is about to lock it. A holder line found by the
  // next Acquire therefore means its writer died without releasing.
  (void)!::ftruncate(fd_, 0);
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace hs::train
