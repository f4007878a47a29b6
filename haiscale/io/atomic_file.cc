// File: haiscale/io/atomic_file.cc
//
// POSIX implementation of haiscale/io/atomic_file.h: open/write/fsync/rename
// with EINTR retries and errno turned into Status naming the path.
#include "haiscale/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"

namespace hs::io {
namespace {

// Directory part of `path` ("." when it has none).
std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// fsyncs the directory `dir` so a rename inside it is durable.
absl::Status SyncDirectory(const std::string& dir) {
  int fd;
  do {
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open directory ", dir));
  absl::Status status;
  if (::fsync(fd) != 0 && errno != EINVAL) {
    // Some file systems do not support fsync on directories (EINVAL); the
    // rename is still atomic there.
    status = ErrnoToStatus(errno, absl::StrCat("fsync directory ", dir));
  }
  ::close(fd);
  return status;
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path, std::string temp_path,
                                   int fd)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) Abandon();
}

void AtomicFileWriter::Abandon() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(
    const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("write: empty path");
  std::string temp_path = absl::StrCat(path, ".tmp.", ::getpid());
  int fd;
  do {
    fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    return ErrnoToStatus(errno, absl::StrCat("create ", temp_path,
                                             " (for ", path, ")"));
  }
  return std::unique_ptr<AtomicFileWriter>(
      new AtomicFileWriter(path, std::move(temp_path), fd));
}

absl::Status AtomicFileWriter::Append(absl::string_view bytes) {
  if (committed_ || fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": write after commit or failure"));
  }
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    // Linux writes at most ~2 GiB per call; chunk explicitly.
    const size_t chunk = left < (size_t{1} << 30) ? left : (size_t{1} << 30);
    const ssize_t n = ::write(fd_, data, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status =
          ErrnoToStatus(errno, absl::StrCat("write ", temp_path_));
      Abandon();
      return status;
    }
    data += n;
    left -= static_cast<size_t>(n);
    bytes_written_ += n;
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (committed_ || fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": commit after commit or failure"));
  }
  if (::fsync(fd_) != 0) {
    absl::Status status =
        ErrnoToStatus(errno, absl::StrCat("fsync ", temp_path_));
    Abandon();
    return status;
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    absl::Status status =
        ErrnoToStatus(errno, absl::StrCat("close ", temp_path_));
    Abandon();
    return status;
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    absl::Status status = ErrnoToStatus(
        errno, absl::StrCat("rename ", temp_path_, " -> ", path_));
    Abandon();
    return status;
  }
  committed_ = true;
  return SyncDirectory(DirName(path_));
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view bytes) {
  HS_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer,
                      AtomicFileWriter::Create(path));
  HS_RETURN_IF_ERROR(writer->Append(bytes));
  return writer->Commit();
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status status = ErrnoToStatus(errno, absl::StrCat("stat ", path));
    ::close(fd);
    return status;
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, expected a file"));
  }
  std::string contents;
  if (st.st_size > 0) contents.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status = ErrnoToStatus(errno, absl::StrCat("read ", path));
      ::close(fd);
      return status;
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return contents;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsConfinedRelativePath(const std::string& path) {
  if (path.empty() || path[0] == '/' || path.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0) return false;
    start = end + 1;
  }
  return true;
}

absl::Status CreateDirectories(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  if (IsDirectory(path)) return absl::OkStatus();
  const std::string parent = DirName(path);
  if (parent != path && parent != "." && parent != "/") {
    HS_RETURN_IF_ERROR(CreateDirectories(parent));
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, absl::StrCat("mkdir ", path));
  }
  if (!IsDirectory(path)) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, ": exists and is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace hs::io
