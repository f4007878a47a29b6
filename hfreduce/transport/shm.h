// File: hfreduce/transport/shm.h
//
// The POSIX shared-memory segment the ranks of one node share. The node's
// first rank creates it (O_CREAT|O_EXCL, mode 0600) under a name unique to
// the job and node, "/hfreduce-<uid>-<jobkey>-n<node>"; the others open it
// and check owner, mode, size and the job key stored in its header, so a
// segment of another user or job is never used. Once every rank has mapped
// it the creator unlinks the name, so a crash later leaves nothing behind.
// A segment left by a crashed job (its creator pid is gone) is stale: it is
// removed when found, both on a name clash and by a scan of /dev/shm at
// creation.
//
// Usage:
//   std::string name = ShmSegmentName(getuid(), job_key, node);
//   HS_ASSIGN_OR_RETURN(auto seg, ShmSegment::Create(name, bytes, job_key));
//   ... MPI barrier ...   // others: ShmSegment::Open(name, bytes, job_key)
//   seg->Unlink();
#ifndef HFREDUCE_TRANSPORT_SHM_H_
#define HFREDUCE_TRANSPORT_SHM_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hs::hfreduce {

// The first bytes of every segment; the caller's area starts at
// ShmSegment::kHeaderBytes.
struct ShmSegmentHeader {
  uint64_t magic;
  uint64_t job_key;
  int64_t creator_pid;
  int64_t bytes;
};

// ShmSegmentName(uid, job_key, node): "/hfreduce-<uid>-<16 hex>-n<node>".
std::string ShmSegmentName(uid_t uid, uint64_t job_key, int node);

// ParseShmSegmentName(name, &uid, &job_key, &node): inverse of
// ShmSegmentName (accepts the name with or without the leading '/').
bool ParseShmSegmentName(const std::string& name, uid_t* uid,
                         uint64_t* job_key, int* node);

// IsStaleShmSegment(name)
//
// True when `name` is an HFReduce segment of this user whose creator process
// no longer exists (or that is older than a minute and never got a valid
// header). False for live segments and for anything not ours.
bool IsStaleShmSegment(const std::string& name);

// RemoveStaleShmSegments(): unlinks this user's stale HFReduce segments in
// /dev/shm; returns how many it removed.
int RemoveStaleShmSegments();

class ShmSegment {
 public:
  static constexpr int64_t kHeaderBytes = 4096;
  static constexpr uint64_t kMagic = 0x4846526564756365ull;  // "HFReduce"

  // ShmSegment::Create(name, bytes, job_key)
  //
  // Creates and maps a zeroed segment of `bytes` (header included). A stale
  // segment under the same name is replaced; a live one is an
  // AlreadyExists error.
  static absl::StatusOr<std::unique_ptr<ShmSegment>> Create(
      const std::string& name, int64_t bytes, uint64_t job_key);

  // ShmSegment::Open(name, bytes, job_key)
  //
  // Maps an existing segment after checking its owner (this user), mode
  // (0600), size and header (magic and job key).
  static absl::StatusOr<std::unique_ptr<ShmSegment>> Open(
      const std::string& name, int64_t bytes, uint64_t job_key);

  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  // ShmSegment::Unlink(): removes the name (the mapping stays valid).
  void Unlink();

  // ShmSegment::data(): the caller's area (after the header).
  void* data() const { return static_cast<char*>(base_) + kHeaderBytes; }
  // ShmSegment::bytes(): total mapped size, header included.
  int64_t bytes() const { return bytes_; }
  const std::string& name() const { return name_; }

 private:
  ShmSegment(std::string name, void* base, int64_t bytes, bool owner)
      : name_(std::move(name)), base_(base), bytes_(bytes), owner_(owner) {}

  std::string name_;
  void* base_;
  int64_t bytes_;
  bool owner_;
  bool linked_ = true;
};

}  // namespace hs::hfreduce

#endif  // HFREDUCE_TRANSPORT_SHM_H_
