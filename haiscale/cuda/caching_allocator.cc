// File: haiscale/cuda/caching_allocator.cc
//
// Bookkeeping of the stream-ordered caching allocator; see the header for
// the model. Everything runs under one mutex: allocation is rare compared
// with kernel work (tensors are sized once per step), so contention does
// not matter and the invariants stay simple.
#include "haiscale/cuda/caching_allocator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"

namespace hs::cuda {
namespace {

// PtrStr(p): "0x7f..." (absl::StrCat takes no pointers).
std::string PtrStr(const void* p) {
  return absl::StrCat("0x", absl::Hex(reinterpret_cast<uintptr_t>(p)));
}

}  // namespace

std::string AllocatorStats::ToString() const {
  return absl::StrCat(
      "allocated=", allocated_bytes, " requested=", requested_bytes,
      " reserved=", reserved_bytes, " cached=", cached_bytes,
      " peak_allocated=", peak_allocated_bytes,
      " peak_reserved=", peak_reserved_bytes, " allocs=", num_allocs,
      " frees=", num_frees, " hits=", cache_hits, " misses=", cache_misses,
      " backend_allocs=", backend_allocs, " backend_frees=", backend_frees,
      " oom_retries=", oom_retries, " parked=", parked_blocks);
}

size_t CachingAllocator::SizeClass(size_t bytes) {
  if (bytes == 0) return 0;
  if (bytes <= kSmallLimit) {
    return (bytes + kSmallGranularity - 1) / kSmallGranularity *
           kSmallGranularity;
  }
  size_t p = size_t{1} << (63 - __builtin_clzll(uint64_t(bytes)));  // <= bytes
  size_t step = p / kLargeClassesPerPowerOfTwo;
  return (bytes + step - 1) / step * step;
}

CachingAllocator::CachingAllocator(std::unique_ptr<RawBackend> backend)
    : backend_(std::move(backend)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  (void)ProcessParkedLocked(/*wait=*/true);
  for (auto& [ptr, block] : blocks_) {
    for (EventId e : block->pending) backend_->DestroyEvent(e);
    (void)backend_->Free(ptr);
  }
}

void CachingAllocator::PushFreeLocked(Block* b) {
  free_[b->stream][b->size].push_back(b);
  stats_.cached_bytes += int64_t(b->size);
}

// ProcessParkedLocked: moves parked blocks whose events all completed to
// their stream's free list; with `wait`, first waits for every event.
absl::Status CachingAllocator::ProcessParkedLocked(bool wait) {
  absl::Status first_error;
  std::vector<Block*> still;
  for (Block* b : parked_) {
    bool done = true;
    for (EventId e : b->pending) {
      if (wait) {
        absl::Status s = backend_->SynchronizeEvent(e);
        if (!s.ok() && first_error.ok()) first_error = s;
        continue;
      }
      absl::StatusOr<bool> d = backend_->EventDone(e);
      if (!d.ok()) {
        if (first_error.ok()) first_error = d.status();
        done = false;
        break;
      }
      if (!*d) {
        done = false;
        break;
      }
    }
    if (!done) {
      still.push_back(b);
      continue;
    }
    for (EventId e : b->pending) backend_->DestroyEvent(e);
    b->pending.clear();
    PushFreeLocked(b);
  }
  parked_ = std::move(still);
  stats_.parked_blocks = int64_t(parked_.size());
  return first_error;
}

absl::Status CachingAllocator::ReleaseCachedLocked() {
  absl::Status first_error;
  for (auto& [stream, classes] : free_) {
    for (auto& [size, list] : classes) {
      for (Block* b : list) {
        absl::Status s = backend_->Free(b->ptr);
        if (!s.ok() && first_error.ok()) first_error = s;
        ++stats_.backend_frees;
        stats_.reserved_bytes -= int64_t(b->size);
        stats_.cached_bytes -= int64_t(b->size);
        void* key = b->ptr;
        blocks_.erase(key);  // destroys b
      }
    }
  }
  free_.clear();
  return first_error;
}

absl::StatusOr<void*> CachingAllocator::Allocate(size_t bytes,
                                                 StreamId stream) {
  if (bytes == 0) return nullptr;
  const size_t size = SizeClass(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (!parked_.empty()) HS_RETURN_IF_ERROR(ProcessParkedLocked(false));

  Block* block = nullptr;
  auto sit = free_.find(stream);
  if (sit != free_.end()) {
    auto cit = sit->second.find(size);
    if (cit != sit->second.end() && !cit->second.empty()) {
      block = cit->second.back();
      cit->second.pop_back();
      if (cit->second.empty()) sit->second.erase(cit);
      stats_.cached_bytes -= int64_t(size);
      ++stats_.cache_hits;
    }
  }
  if (block == nullptr) {
    absl::StatusOr<void*> raw = backend_->Allocate(size);
    if (!raw.ok() && absl::IsResourceExhausted(raw.status())) {
      // Out of memory: wait for parked blocks, give the whole cache back
      // and try once more.
      ++stats_.oom_retries;
      HS_RETURN_IF_ERROR(ProcessParkedLocked(true));
      HS_RETURN_IF_ERROR(ReleaseCachedLocked());
      raw = backend_->Allocate(size);
    }
    if (!raw.ok()) {
      return Annotate(raw.status(), "allocating ", bytes, " bytes (class ",
                      size, "; ", stats_.ToString(), ")");
    }
    auto owned = std::make_unique<Block>();
    block = owned.get();
    block->ptr = *raw;
    block->size = size;
    block->stream = stream;
    blocks_.emplace(block->ptr, std::move(owned));
    ++stats_.cache_misses;
    ++stats_.backend_allocs;
    stats_.reserved_bytes += int64_t(size);
    stats_.peak_reserved_bytes =
        std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  }
  block->in_use = true;
  block->requested = bytes;
  block->other_streams.clear();
  ++stats_.num_allocs;
  stats_.allocated_bytes += int64_t(size);
  stats_.requested_bytes += int64_t(bytes);
  stats_.peak_allocated_bytes =
      std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return block->ptr;
}

absl::Status CachingAllocator::Free(void* ptr) {
  if (ptr == nullptr) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blocks_.find(ptr);
  if (it == blocks_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("caching allocator: Free of pointer ", PtrStr(ptr),
                     " that it did not allocate"));
  }
  Block* b = it->second.get();
  if (!b->in_use) {
    return absl::InvalidArgumentError(
        absl::StrCat("caching allocator: double Free of ", PtrStr(ptr)));
  }
  b->in_use = false;
  ++stats_.num_frees;
  stats_.allocated_bytes -= int64_t(b->size);
  stats_.requested_bytes -= int64_t(b->requested);
  if (b->other_streams.empty()) {
    PushFreeLocked(b);
    return absl::OkStatus();
  }
  // Used on other streams too: reusable once each has passed this point.
  for (StreamId s : b->other_streams) {
    absl::StatusOr<EventId> e = backend_->RecordEvent(s);
    if (!e.ok()) {
      // Cannot order the reuse; keep the block out of circulation rather
      // than risk handing out memory still being read.
      for (EventId pe : b->pending) backend_->DestroyEvent(pe);
      b->pending.clear();
      stats_.reserved_bytes -= int64_t(b->size);
      (void)backend_->Free(b->ptr);
      ++stats_.backend_frees;
      blocks_.erase(it);
      return Annotate(e.status(), "caching allocator: Free(", PtrStr(ptr), ")");
    }
    b->pending.push_back(*e);
  }
  b->other_streams.clear();
  parked_.push_back(b);
  stats_.parked_blocks = int64_t(parked_.size());
  return absl::OkStatus();
}

absl::Status CachingAllocator::RecordStream(void* ptr, StreamId stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blocks_.find(ptr);
  if (it == blocks_.end() || !it->second->in_use) {
    return absl::InvalidArgumentError(absl::StrCat(
        "caching allocator: RecordStream on ", PtrStr(ptr), ", not an allocated block"));
  }
  Block* b = it->second.get();
  if (stream == b->stream) return absl::OkStatus();
  if (std::find(b->other_streams.begin(), b->other_streams.end(), stream) ==
      b->other_streams.end()) {
    b->other_streams.push_back(stream);
  }
  return absl::OkStatus();
}

absl::Status CachingAllocator::EmptyCache() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = ProcessParkedLocked(false);
  absl::Status r = ReleaseCachedLocked();
  return s.ok() ? r : s;
}

AllocatorStats CachingAllocator::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::ResetPeakStats() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

}  // namespace hs::cuda
