// File: haiscale/io/atomic_file.h
//
// Crash-safe file writes and whole-file reads. Every file HaiScale writes
// (configs copies, checkpoints, safetensors, metrics snapshots) goes through
// here: the bytes go to "<path>.tmp.<pid>", which is fsync'ed and renamed over
// <path>, and then the directory is fsync'ed, so a reader sees either the old
// file or the complete new one, never a torn write. Errors name the path.
//
// Usage:
//   HS_RETURN_IF_ERROR(hs::io::WriteFileAtomically("run/config.pbtxt", text));
//
//   HS_ASSIGN_OR_RETURN(auto writer, hs::io::AtomicFileWriter::Create(path));
//   HS_RETURN_IF_ERROR(writer->Append(header));
//   HS_RETURN_IF_ERROR(writer->Append(payload));
//   HS_RETURN_IF_ERROR(writer->Commit());   // without Commit nothing appears
//
//   HS_ASSIGN_OR_RETURN(std::string text, hs::io::ReadFileToString(path));
#ifndef HAISCALE_IO_ATOMIC_FILE_H_
#define HAISCALE_IO_ATOMIC_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hs::io {

// AtomicFileWriter
//
// Streams bytes into a temporary file beside `path`; Commit() makes them
// appear at `path` atomically and durably. Destroying an uncommitted writer
// removes the temporary file and leaves `path` untouched.
class AtomicFileWriter {
 public:
  // AtomicFileWriter::Create(path)
  //
  // Opens "<path>.tmp.<pid>" for writing (truncating a stale one). The
  // directory of `path` must exist.
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Create(
      const std::string& path);

  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // AtomicFileWriter::Append(bytes)
  //
  // Writes `bytes` at the end of the temporary file (retrying short writes).
  absl::Status Append(absl::string_view bytes);

  // AtomicFileWriter::Commit()
  //
  // fsyncs and closes the temporary file, renames it to the final path and
  // fsyncs the directory. After an error nothing is left at the temporary
  // path and the final path is unchanged. Call at most once.
  absl::Status Commit();

  // AtomicFileWriter::bytes_written()
  //
  // Bytes appended so far.
  int64_t bytes_written() const { return bytes_written_; }

  // AtomicFileWriter::path() / temp_path()
  //
  // The final path, and the temporary path the bytes go to until Commit().
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFileWriter(std::string path, std::string temp_path, int fd);
  void Abandon();

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  int64_t bytes_written_ = 0;
  bool committed_ = false;
};

// WriteFileAtomically(path, bytes)
//
// Replaces the file at `path` with `bytes` (temp + fsync + rename + fsync of
// the directory).
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view bytes);

// ReadFileToString(path)
//
// The whole contents of the file at `path`. NotFound etc. name the path.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// IsDirectory(path)
//
// True when `path` exists and is a directory (following symlinks).
bool IsDirectory(const std::string& path);

// CreateDirectories(path)
//
// mkdir -p: creates `path` and any missing parents (mode 0755). OK when it
// already exists as a directory.
absl::Status CreateDirectories(const std::string& path);

// IsConfinedRelativePath(path)
//
// True when `path`, taken relative to some folder, stays inside it: not
// empty, not absolute, no ".." component and no NUL. Paths that other
// programs write into index files (checkpoint manifests, HF
// model.safetensors.index.json) must pass this before they are opened.
bool IsConfinedRelativePath(const std::string& path);

}  // namespace hs::io

#endif  // HAISCALE_IO_ATOMIC_FILE_H_
