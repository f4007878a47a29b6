// File: haiscale/cuda/caching_allocator_test.cc
//
// The allocator's bookkeeping on the CPU: a fake backend hands out host
// memory and models streams as counters, events as "stream reached value".
#include "haiscale/cuda/caching_allocator.h"

#include <cstdlib>
#include <map>
#include <set>

#include "gtest/gtest.h"

namespace hs::cuda {
namespace {

// FakeBackend: malloc'ed memory with a byte budget; each stream has a
// "position" (work queued) and a "completed" count the test advances.
class FakeBackend : public RawBackend {
 public:
  struct State {
    int64_t budget = int64_t{1} << 40;
    int64_t in_use = 0;
    int allocs = 0, frees = 0, events_live = 0;
    std::map<StreamId, int64_t> queued, completed;
    std::map<EventId, std::pair<StreamId, int64_t>> events;
    EventId next_event = 1;
    std::set<void*> live;
  };
  explicit FakeBackend(State* st) : st_(st) {}

  absl::StatusOr<void*> Allocate(size_t bytes) override {
    if (st_->in_use + int64_t(bytes) > st_->budget) {
      return absl::ResourceExhaustedError("fake OOM");
    }
    void* p = std::malloc(bytes);
    st_->in_use += int64_t(bytes);
    sizes_[p] = bytes;
    st_->live.insert(p);
    ++st_->allocs;
    return p;
  }
  absl::Status Free(void* ptr) override {
    st_->in_use -= int64_t(sizes_.at(ptr));
    sizes_.erase(ptr);
    st_->live.erase(ptr);
    std::free(ptr);
    ++st_->frees;
    return absl::OkStatus();
  }
  absl::StatusOr<EventId> RecordEvent(StreamId s) override {
    EventId e = st_->next_event++;
    st_->events[e] = {s, st_->queued[s]};
    ++st_->events_live;
    return e;
  }
  absl::StatusOr<bool> EventDone(EventId e) override {
    auto [s, pos] = st_->events.at(e);
    return st_->completed[s] >= pos;
  }
  absl::Status SynchronizeEvent(EventId e) override {
    auto [s, pos] = st_->events.at(e);
    st_->completed[s] = std::max(st_->completed[s], pos);
    return absl::OkStatus();
  }
  void DestroyEvent(EventId e) override {
    st_->events.erase(e);
    --st_->events_live;
  }

 private:
  State* st_;
  std::map<void*, size_t> sizes_;
};

TEST(CachingAllocatorTest, SizeClasses) {
  EXPECT_EQ(CachingAllocator::SizeClass(0), 0u);
  EXPECT_EQ(CachingAllocator::SizeClass(1), 512u);
  EXPECT_EQ(CachingAllocator::SizeClass(512), 512u);
  EXPECT_EQ(CachingAllocator::SizeClass(513), 1024u);
  EXPECT_EQ(CachingAllocator::SizeClass(1 << 20), size_t{1} << 20);
  // Above 1 MiB: four classes per power of two.
  const size_t M = size_t{1} << 20;
  EXPECT_EQ(CachingAllocator::SizeClass(M + 1), M + M / 4);
  EXPECT_EQ(CachingAllocator::SizeClass(M + M / 4), M + M / 4);
  EXPECT_EQ(CachingAllocator::SizeClass(M + M / 4 + 1), M + M / 2);
  EXPECT_EQ(CachingAllocator::SizeClass(2 * M - 1), 2 * M);
  EXPECT_EQ(CachingAllocator::SizeClass(3 * M), 3 * M);
  EXPECT_EQ(CachingAllocator::SizeClass(3 * M + 1), 3 * M + M / 2);
  // Waste is bounded by 25% for large and 512 B for small requests.
  for (size_t b = 1; b < (size_t{1} << 34); b = b * 3 + 7) {
    size_t c = CachingAllocator::SizeClass(b);
    ASSERT_GE(c, b);
    if (b > M) {
      ASSERT_LE(double(c - b), 0.25 * double(b)) << b;
    } else {
      ASSERT_LT(c - b, 512u) << b;
    }
    ASSERT_EQ(CachingAllocator::SizeClass(c), c) << "classes are fixed points";
  }
}

TEST(CachingAllocatorTest, ReuseOnSameStreamIsACacheHit) {
  FakeBackend::State st;
  CachingAllocator a(std::make_unique<FakeBackend>(&st));
  void* p = *a.Allocate(1000, /*stream=*/7);
  ASSERT_NE(p, nullptr);
  AllocatorStats s = a.Stats();
  EXPECT_EQ(s.allocated_bytes, 1024);
  EXPECT_EQ(s.requested_bytes, 1000);
  EXPECT_EQ(s.reserved_bytes, 1024);
  EXPECT_EQ(s.cache_misses, 1);
  ASSERT_TRUE(a.Free(p).ok());
  s = a.Stats();
  EXPECT_EQ(s.allocated_bytes, 0);
  EXPECT_EQ(s.reserved_bytes, 1024);
  EXPECT_EQ(s.cached_bytes, 1024);
  // Same class (1000 and 600 both round to 1024), same stream: reused.
  void* q = *a.Allocate(600, 7);
  EXPECT_EQ(q, p);
  s = a.Stats();
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.backend_allocs, 1);
  EXPECT_EQ(s.requested_bytes, 600);
  EXPECT_EQ(s.num_allocs, 2);
  EXPECT_EQ(s.num_frees, 1);
  ASSERT_TRUE(a.Free(q).ok());
}

TEST(CachingAllocatorTest, OtherStreamOrOtherClassMisses) {
  FakeBackend::State st;
  CachingAllocator a(std::make_unique<FakeBackend>(&st));
  void* p = *a.Allocate(4096, 1);
  ASSERT_TRUE(a.Free(p).ok());
  void* q = *a.Allocate(4096, 2);  // another stream's free list is empty
  EXPECT_NE(q, p);
  void* r = *a.Allocate(8192, 1);  // another class
  EXPECT_NE(r, p);
  EXPECT_EQ(a.Stats().cache_hits, 0);
  EXPECT_EQ(a.Stats().backend_allocs, 3);
  EXPECT_EQ(a.Stats().reserved_bytes, 4096 + 4096 + 8192);
  EXPECT_EQ(a.Stats().peak_allocated_bytes, 4096 + 8192);
  ASSERT_TRUE(a.Free(q).ok());
  ASSERT_TRUE(a.Free(r).ok());
}

TEST(CachingAllocatorTest, PeaksAndReset) {
  FakeBackend::State st;
  CachingAllocator a(std::make_unique<FakeBackend>(&st));
  void* p = *a.Allocate(1 << 20, 0);
  void* q = *a.Allocate(1 << 20, 0);
  ASSERT_TRUE(a.Free(p).ok());
  ASSERT_TRUE(a.Free(q).ok());
  EXPECT_EQ(a.Stats().peak_allocated_bytes, 2 << 20);
  EXPECT_EQ(a.Stats().peak_reserved_bytes, 2 << 20);
  a.ResetPeakStats();
  EXPECT_EQ(a.Stats().peak_allocated_bytes, 0);
  EXPECT_EQ(a.Stats().peak_reserved_bytes, 2 << 20);  // still cached
  ASSERT_TRUE(a.EmptyCache().ok());
  EXPECT_EQ(a.Stats().reserved_bytes, 0);
  EXPECT_EQ(a.Stats().cached_bytes, 0);
  EXPECT_EQ(st.in_use, 0);
  EXPECT_EQ(st.frees, 2);
}

TEST(CachingAllocatorTest, CrossStreamUseWaitsForEvent) {
  FakeBackend::State st;
  CachingAllocator a(std::make_unique<FakeBackend>(&st));
  void* p = *a.Allocate(2048, 1);
  ASSERT_TRUE(a.RecordStream(p, 2).ok());
  ASSERT_TRUE(a.RecordStream(p, 1).ok());  // own stream: no-op
  st.queued[2] = 5;  // stream 2 still has work reading p
  ASSERT_TRUE(a.Free(p).ok());
  EXPECT_EQ(a.Stats().parked_blocks, 1);
  EXPECT_EQ(st.events_live, 1);
  // Not reusable yet: a new block comes from the backend.
  void* q = *a.Allocate(2048, 1);
  EXPECT_NE(q, p);
  // Stream 2 passes the recorded point: p becomes reusable on stream 1.
  st.completed[2] = 5;
  void* r = *a.Allocate(2048, 1);
  EXPECT_EQ(r, p);
  EXPECT_EQ(a.Stats().parked_blocks, 0);
  EXPECT_EQ(st.events_live, 0);
  EXPECT_EQ(a.Stats().cache_hits, 1);
  ASSERT_TRUE(a.Free(q).ok());
  ASSERT_TRUE(a.Free(r).ok());
}

TEST(CachingAllocatorTest, OomFlushesCacheAndRetries) {
  FakeBackend::State st;
  st.budget = 3 * 4096;
  CachingAllocator a(std::make_unique<FakeBackend>(&st));
  void* p = *a.Allocate(4096, 1);
  void* q = *a.Allocate(4096, 2);
  ASSERT_TRUE(a.Free(p).ok());
  ASSERT_TRUE(a.Free(q).ok());
  // 8 KiB class does not fit next to 8 KiB cached: flush, then it fits.
  absl::StatusOr<void*> big = a.Allocate(8192, 3);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(a.Stats().oom_retries, 1);
  EXPECT_EQ(a.Stats().reserved_bytes, 8192);
  EXPECT_EQ(st.frees, 2);
  // A request that can never fit reports the error with the statistics.
  absl::StatusOr<void*> huge = a.Allocate(1 << 20, 3);
  ASSERT_FALSE(huge.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(huge.status()));
  EXPECT_NE(huge.status().message().find("reserved="), std::string::npos)
      << huge.status();
  ASSERT_TRUE(a.Free(*big).ok());
}

TEST(CachingAllocatorTest, OomWaitsForParkedBlocks) {
  FakeBackend::State st;
  st.budget = 4096;
  CachingAllocator a(std::make_unique<FakeBackend>(&st));
  void* p = *a.Allocate(4096, 1);
  ASSERT_TRUE(a.RecordStream(p, 2).ok());
  st.queued[2] = 1;
  ASSERT_TRUE(a.Free(p).ok());  // parked behind stream 2
  absl::StatusOr<void*> q = a.Allocate(4096, 3);
  ASSERT_TRUE(q.ok()) << q.status();  // waited, released, re-allocated
  EXPECT_EQ(st.completed[2], 1);
  EXPECT_EQ(a.Stats().oom_retries, 1);
  ASSERT_TRUE(a.Free(*q).ok());
}

TEST(CachingAllocatorTest, BadFreesAreErrors) {
  FakeBackend::State st;
  CachingAllocator a(std::make_unique<FakeBackend>(&st));
  int local = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(a.Free(&local)));
  void* p = *a.Allocate(10, 0);
  ASSERT_TRUE(a.Free(p).ok());
  absl::Status s = a.Free(p);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("double Free"), std::string::npos);
  EXPECT_TRUE(a.Free(nullptr).ok());
  EXPECT_EQ(*a.Allocate(0, 0), nullptr);
  EXPECT_EQ(a.Stats().num_allocs, 1);
  EXPECT_TRUE(absl::IsInvalidArgument(a.RecordStream(p, 3)));  // not in use
}

TEST(CachingAllocatorTest, DestructorReturnsEverything) {
  FakeBackend::State st;
  {
    CachingAllocator a(std::make_unique<FakeBackend>(&st));
    void* p = *a.Allocate(100, 0);
    void* q = *a.Allocate(1 << 22, 1);
    ASSERT_TRUE(a.RecordStream(q, 2).ok());
    st.queued[2] = 3;
    ASSERT_TRUE(a.Free(q).ok());
    (void)p;  // still allocated at destruction
  }
  EXPECT_EQ(st.in_use, 0);
  EXPECT_TRUE(st.live.empty());
  EXPECT_EQ(st.events_live, 0);
}

}  // namespace
}  // namespace hs::cuda
