// File: haiscale/train/run_lock.h
//
// RunDirLock: one job per run directory. Two jobs writing the same
// output_dir would interleave metrics.jsonl lines and mix their checkpoint
// series, so `hai train` takes an advisory lock on <output_dir>/.hai_run.lock
// (flock) before anything is written and holds it for the job's life.
//
// The kernel releases a flock when its holder exits for any reason (normal
// exit, crash, kill -9), so a lock file left by a dead job is simply taken
// over; a live holder makes Acquire fail with an error naming the directory
// and the holder (pid, host, start time, command) recorded in the file.
//
// Under mpirun rank 0 takes the lock for the whole job (the other ranks
// write only inside the checkpoint protocol rank 0 coordinates).
//
// Usage:
//   HS_ASSIGN_OR_RETURN(std::unique_ptr<RunDirLock> lock, RunDirLock::Acquire(dir));
//   ... train; the lock is released when `lock` is destroyed or the process ends.
#ifndef HAISCALE_TRAIN_RUN_LOCK_H_
#define HAISCALE_TRAIN_RUN_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hs::train {

// Name of the lock file inside a run directory.
inline constexpr char kRunLockFile[] = ".hai_run.lock";

class RunDirLock {
 public:
  // RunDirLock::Acquire(dir): creates `dir` when missing, then locks it.
  // FailedPrecondition "DIR is in use by another job (pid P on host H,
  // started T: CMD)" when a live process holds it; other errors name the
  // lock file. `previous_holder` (optional) receives the holder line a job
  // that died without releasing left behind ("" after a clean release).
  static absl::StatusOr<std::unique_ptr<RunDirLock>> Acquire(
      const std::string& dir, std::string* previous_holder = nullptr);

  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  RunDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_RUN_LOCK_H_
