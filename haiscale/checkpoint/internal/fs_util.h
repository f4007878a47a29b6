// File: haiscale/checkpoint/internal/fs_util.h
//
// Directory operations the checkpoint protocol and `hai convert` share:
// fsync of a directory, recursive removal, and publishing a fully written
// directory under its final name atomically.
#ifndef HAISCALE_CHECKPOINT_INTERNAL_FS_UTIL_H_
#define HAISCALE_CHECKPOINT_INTERNAL_FS_UTIL_H_

#include <string>

#include "absl/status/status.h"

namespace hs::checkpoint::internal {

// SyncDir(dir): fsyncs directory `dir` so renames inside it are durable
// (file systems that cannot fsync directories, EINVAL, count as OK).
absl::Status SyncDir(const std::string& dir);

// RemoveAll(path): rm -rf; OK when `path` does not exist.
absl::Status RemoveAll(const std::string& path);

// PublishDirectory(from, to)
//
// Makes the complete directory `from` appear as `to`: rename when `to`
// does not exist; otherwise an atomic exchange (renameat2 RENAME_EXCHANGE)
// followed by removing the old contents, so `to` is never missing. Where
// the file system lacks RENAME_EXCHANGE the old `to` is first moved to
// "<to>.deleting" (a crash in between leaves `to` missing, never torn).
absl::Status PublishDirectory(const std::string& from, const std::string& to);

}  // namespace hs::checkpoint::internal

#endif  // HAISCALE_CHECKPOINT_INTERNAL_FS_UTIL_H_
