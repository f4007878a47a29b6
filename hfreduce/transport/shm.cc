// File: hfreduce/transport/shm.cc — node shared-memory segments; see shm.h.
#include "hfreduce/transport/shm.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/status.h"

namespace hs::hfreduce {
namespace {

std::string WithSlash(const std::string& name) {
  return name.empty() || name[0] == '/' ? name : "/" + name;
}

// Reads the header of an open segment fd; false when too small.
bool ReadHeader(int fd, ShmSegmentHeader* header) {
  return pread(fd, header, sizeof(*header), 0) ==
         static_cast<ssize_t>(sizeof(*header));
}

}  // namespace

std::string ShmSegmentName(uid_t uid, uint64_t job_key, int node) {
  return absl::StrFormat("/hfreduce-%u-%016x-n%d", static_cast<unsigned>(uid),
                         job_key, node);
}

bool ParseShmSegmentName(const std::string& name, uid_t* uid,
                         uint64_t* job_key, int* node) {
  std::string n = WithSlash(name);
  unsigned u = 0;
  unsigned long long key = 0;
  int nd = 0, consumed = 0;
  if (std::sscanf(n.c_str(), "/hfreduce-%u-%16llx-n%d%n", &u, &key, &nd,
                  &consumed) != 3 ||
      consumed != static_cast<int>(n.size()) || nd < 0) {
    return false;
  }
  // Canonical form only (exact round trip).
  if (ShmSegmentName(u, key, nd) != n) return false;
  *uid = u;
  *job_key = key;
  *node = nd;
  return true;
}

bool IsStaleShmSegment(const std::string& name) {
  uid_t uid;
  uint64_t key;
  int node;
  if (!ParseShmSegmentName(name, &uid, &key, &node) || uid != geteuid()) {
    return false;
  }
  int fd = shm_open(WithSlash(name).c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  struct stat st;
  bool stale = false;
  if (fstat(fd, &st) == 0 && st.st_uid == geteuid()) {
    ShmSegmentHeader h;
    if (ReadHeader(fd, &h) && h.magic == ShmSegment::kMagic && h.job_key == key) {
      stale = h.creator_pid > 0 &&
              kill(static_cast<pid_t>(h.creator_pid), 0) != 0 && errno == ESRCH;
    } else {
      // Created but never initialised: stale once old enough.
      stale = std::time(nullptr) - st.st_mtime > 60;
    }
  }
  close(fd);
  return stale;
}

int RemoveStaleShmSegments() {
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return 0;
  int removed = 0;
  std::string prefix = absl::StrCat("hfreduce-", geteuid(), "-");
  while (struct dirent* e = readdir(dir)) {
    std::string entry = e->d_name;
    if (entry.compare(0, prefix.size(), prefix) != 0) continue;
    if (IsStaleShmSegment(entry) && shm_unlink(WithSlash(entry).c_str()) == 0) {
      ++removed;
    }
  }
  closedir(dir);
  return removed;
}

absl::StatusOr<std::unique_ptr<ShmSegment>> ShmSegment::Create(
    const std::string& name, int64_t bytes, uint64_t job_key) {
  if (bytes < kHeaderBytes) {
    return absl::InvalidArgumentError("shm segment smaller than its header");
  }
  const std::string path = WithSlash(name);
  int fd = shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST && IsStaleShmSegment(path)) {
    shm_unlink(path.c_str());
    fd = shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  }
  if (fd < 0) {
    return Annotate(ErrnoToStatus(errno, "shm_open(" + path + ", O_EXCL)"),
                    "hfreduce: cannot create the node segment (a live segment "
                    "with this name exists, or /dev/shm is not writable)");
  }
  // shm_open applies the umask; make the mode exactly 0600.
  fchmod(fd, 0600);
  if (ftruncate(fd, bytes) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(path.c_str());
    return ErrnoToStatus(err, absl::StrCat("ftruncate(", path, ", ", bytes, ")"));
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (base == MAP_FAILED) {
    shm_unlink(path.c_str());
    return ErrnoToStatus(err, "mmap(" + path + ")");
  }
  auto* header = static_cast<ShmSegmentHeader*>(base);
  header->job_key = job_key;
  header->creator_pid = getpid();
  header->bytes = bytes;
  __atomic_store_n(&header->magic, kMagic, __ATOMIC_RELEASE);
  return std::unique_ptr<ShmSegment>(new ShmSegment(path, base, bytes, true));
}

absl::StatusOr<std::unique_ptr<ShmSegment>> ShmSegment::Open(
    const std::string& name, int64_t bytes, uint64_t job_key) {
  const std::string path = WithSlash(name);
  int fd = shm_open(path.c_str(), O_RDWR, 0);
  if (fd < 0) return ErrnoToStatus(errno, "shm_open(" + path + ")");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ErrnoToStatus(err, "fstat(" + path + ")");
  }
  if (st.st_uid != geteuid() || (st.st_mode & 0777) != 0600 || st.st_size != bytes) {
    close(fd);
    return absl::PermissionDeniedError(absl::StrFormat(
        "hfreduce: refusing segment %s: owner %d mode %o size %d (want owner "
        "%d mode 600 size %d)",
        path, st.st_uid, st.st_mode & 0777, st.st_size, geteuid(), bytes));
  }
  ShmSegmentHeader h;
  if (!ReadHeader(fd, &h) || h.magic != kMagic || h.job_key != job_key ||
      h.bytes != bytes) {
    close(fd);
    return absl::PermissionDeniedError(absl::StrCat(
        "hfreduce: segment ", path, " belongs to another job (header mismatch)"));
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (base == MAP_FAILED) return ErrnoToStatus(err, "mmap(" + path + ")");
  return std::unique_ptr<ShmSegment>(new ShmSegment(path, base, bytes, false));
}

void ShmSegment::Unlink() {
  if (owner_ && linked_) shm_unlink(name_.c_str());
  linked_ = false;
}

ShmSegment::~ShmSegment() {
  Unlink();
  munmap(base_, bytes_);
}

}  // namespace hs::hfreduce
