// File: haiscale/cuda/caching_allocator.h
//
// CachingAllocator: the bookkeeping of HaiScale's stream-ordered device
// allocator, in plain C++ so it is unit-tested on the CPU with a fake
// backend (caching_allocator_test.cc). The CUDA backend (cuda_allocator.h)
// plugs cudaMalloc/cudaFree and CUDA events in through RawBackend.
//
// Model (the stream-ordered caching scheme PyTorch popularised, written
// from its description, not its code):
//   * Requests are rounded up to a size class (SizeClass): multiples of
//     512 B up to 1 MiB, then four classes per power of two (<= 25% waste).
//   * A block belongs to the stream it was allocated on. Free() puts it on
//     that stream's free list for its class; the next Allocate() of the
//     same class on the same stream reuses it at once (a cache hit) —
//     safe without synchronisation, because the stream runs the earlier
//     user's kernels before the new user's.
//   * A block also used on other streams (RecordStream) is not reusable
//     until those streams pass the point of Free(): Free() records an event
//     on each and parks the block until every event has completed.
//   * When the backend is out of memory, Allocate() waits for parked
//     blocks, returns every cached block to the backend and retries once.
//   * Statistics: allocated/requested/reserved bytes with peaks, number of
//     allocations and frees, cache hits/misses, backend calls, OOM retries.
//
// Usage:
//   CachingAllocator alloc(std::make_unique<MyBackend>());
//   HS_ASSIGN_OR_RETURN(void* p, alloc.Allocate(bytes, stream));
//   ... launch kernels on `stream` using p ...
//   HS_RETURN_IF_ERROR(alloc.Free(p));
//   AllocatorStats s = alloc.Stats();
#ifndef HAISCALE_CUDA_CACHING_ALLOCATOR_H_
#define HAISCALE_CUDA_CACHING_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hs::cuda {

// StreamId / EventId: opaque handles (a cudaStream_t / cudaEvent_t cast to
// an integer in the CUDA backend; 0 is the legacy default stream).
using StreamId = uintptr_t;
using EventId = uintptr_t;

// RawBackend: where the memory and the stream-order markers come from.
class RawBackend {
 public:
  virtual ~RawBackend() = default;
  // RawBackend::Allocate(bytes): a fresh allocation; ResourceExhausted when
  // the device is out of memory (the allocator then flushes its cache and
  // retries), any other error is returned to the caller as is.
  virtual absl::StatusOr<void*> Allocate(size_t bytes) = 0;
  // RawBackend::Free(ptr): returns an allocation made by Allocate.
  virtual absl::Status Free(void* ptr) = 0;
  // RawBackend::RecordEvent(stream): an event that completes when all work
  // queued on `stream` so far has finished.
  virtual absl::StatusOr<EventId> RecordEvent(StreamId stream) = 0;
  // RawBackend::EventDone(event): whether the event has completed.
  virtual absl::StatusOr<bool> EventDone(EventId event) = 0;
  // RawBackend::SynchronizeEvent(event): blocks until it has completed.
  virtual absl::Status SynchronizeEvent(EventId event) = 0;
  // RawBackend::DestroyEvent(event): releases an event from RecordEvent.
  virtual void DestroyEvent(EventId event) = 0;
};

// AllocatorStats: a snapshot; byte counts are size-class rounded unless
// named "requested".
struct AllocatorStats {
  int64_t allocated_bytes = 0;       // handed out and not yet freed
  int64_t requested_bytes = 0;       // what callers asked for (unrounded)
  int64_t reserved_bytes = 0;        // held from the backend (allocated + cached + parked)
  int64_t cached_bytes = 0;          // on free lists, reusable now
  int64_t peak_allocated_bytes = 0;
  int64_t peak_reserved_bytes = 0;
  int64_t num_allocs = 0;            // successful Allocate calls (bytes > 0)
  int64_t num_frees = 0;
  int64_t cache_hits = 0;            // Allocate served from a free list
  int64_t cache_misses = 0;          // Allocate that needed the backend
  int64_t backend_allocs = 0;
  int64_t backend_frees = 0;
  int64_t oom_retries = 0;           // backend OOM -> cache flushed -> retried
  int64_t parked_blocks = 0;         // freed, waiting for other streams

  // AllocatorStats::ToString(): one line, for logs.
  std::string ToString() const;
};

class CachingAllocator {
 public:
  // Size-class constants (see SizeClass).
  static constexpr size_t kSmallGranularity = 512;
  static constexpr size_t kSmallLimit = size_t{1} << 20;
  static constexpr int kLargeClassesPerPowerOfTwo = 4;

  // SizeClass(bytes): the rounded size a request of `bytes` (> 0) gets:
  //   bytes <= 1 MiB: round up to a multiple of 512;
  //   otherwise, with p the largest power of two <= bytes: round up to a
  //   multiple of p/4 (classes p, 1.25p, 1.5p, 1.75p, 2p).
  static size_t SizeClass(size_t bytes);

  explicit CachingAllocator(std::unique_ptr<RawBackend> backend);
  // Waits for parked blocks and returns every block to the backend
  // (including blocks still allocated: the owner of the allocator outlives
  // its users by contract).
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // CachingAllocator::Allocate(bytes, stream): a block of at least `bytes`
  // for use on `stream`. bytes == 0 gives nullptr (and no statistics).
  absl::StatusOr<void*> Allocate(size_t bytes, StreamId stream);

  // CachingAllocator::Free(ptr): returns a block (nullptr is a no-op).
  // InvalidArgument for a pointer this allocator does not own or a double
  // free.
  absl::Status Free(void* ptr);

  // CachingAllocator::RecordStream(ptr, stream): `ptr` is also used by work
  // on `stream`; its reuse after Free waits for that work.
  absl::Status RecordStream(void* ptr, StreamId stream);

  // CachingAllocator::EmptyCache(): returns every cached (free) block to
  // the backend; parked blocks stay until their events complete.
  absl::Status EmptyCache();

  // CachingAllocator::Stats() / ResetPeakStats().
  AllocatorStats Stats() const;
  void ResetPeakStats();

 private:
  struct Block {
    void* ptr = nullptr;
    size_t size = 0;        // size class
    size_t requested = 0;
    StreamId stream = 0;    // allocation stream; owns the free list
    bool in_use = false;
    std::vector<StreamId> other_streams;  // from RecordStream
    std::vector<EventId> pending;         // events a parked block waits on
  };

  // All below require mu_ held.
  absl::Status ProcessParkedLocked(bool wait);
  absl::Status ReleaseCachedLocked();
  void PushFreeLocked(Block* b);

  std::unique_ptr<RawBackend> backend_;
  mutable std::mutex mu_;
  std::unordered_map<void*, std::unique_ptr<Block>> blocks_;
  // free_[stream][size class] -> blocks ready for reuse on that stream.
  std::unordered_map<StreamId, std::map<size_t, std::vector<Block*>>> free_;
  std::vector<Block*> parked_;
  AllocatorStats stats_;
};

}  // namespace hs::cuda

#endif  // HAISCALE_CUDA_CACHING_ALLOCATOR_H_
