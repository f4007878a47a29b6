// File: haiscale/checkpoint/internal/fs_util.cc — see fs_util.h.
#include "haiscale/checkpoint/internal/fs_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::checkpoint::internal {

namespace fs = std::filesystem;

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open directory " + dir);
  absl::Status st;
  if (::fsync(fd) != 0 && errno != EINVAL) st = ErrnoToStatus(errno, "fsync directory " + dir);
  ::close(fd);
  return st;
}

absl::Status RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status PublishDirectory(const std::string& from, const std::string& to) {
  if (!io::IsDirectory(to)) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", from, " -> ", to));
    }
    return absl::OkStatus();
  }
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != EINVAL && errno != ENOSYS) {
      return ErrnoToStatus(errno, absl::StrCat("exchange ", from, " <-> ", to));
    }
    const std::string aside = to + ".deleting";
    HS_RETURN_IF_ERROR(RemoveAll(aside));
    if (::rename(to.c_str(), aside.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", to, " -> ", aside));
    }
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", from, " -> ", to));
    }
    return RemoveAll(aside);
  }
  return RemoveAll(from);  // now holds the replaced directory
}

}  // namespace hs::checkpoint::internal
