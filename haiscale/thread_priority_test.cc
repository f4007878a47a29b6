// File: haiscale/thread_priority_test.cc
#include "haiscale/thread_priority.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace hs {
namespace {

// Nice values are per thread: a raise on one thread leaves the others. As
// root (CI) the raise works; without CAP_SYS_NICE it must say why instead.
TEST(ThreadPriorityTest, RaisesOnlyTheCallingThread) {
  const int main_before = ThisThreadNice();
  int before = 0, after = 0;
  absl::Status s;
  std::thread t([&] {
    before = ThisThreadNice();
    s = RaiseThisThreadPriority(3);
    after = ThisThreadNice();
  });
  t.join();
  EXPECT_EQ(ThisThreadNice(), main_before);
  if (s.ok()) {
    EXPECT_EQ(after, std::max(-20, before - 3));
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    EXPECT_NE(s.message().find("CAP_SYS_NICE"), std::string::npos) << s;
    EXPECT_EQ(after, before);
  }
}

TEST(ThreadPriorityTest, ZeroLevelsChangesNothing) {
  std::thread t([] {
    const int before = ThisThreadNice();
    EXPECT_TRUE(RaiseThisThreadPriority(0).ok());
    EXPECT_TRUE(RaiseThisThreadPriority(-4).ok());
    EXPECT_EQ(ThisThreadNice(), before);
  });
  t.join();
}

// The slice is per thread too. Kernels before 6.12 accept it without
// keeping it (sched_getattr then reports 0); this machine's kernel keeps it.
TEST(ThreadPriorityTest, SetsTheCallingThreadsSlice) {
  absl::Status s;
  absl::Duration got, other;
  int nice_before = 0, nice_after = 0;
  std::thread t([&] {
    nice_before = ThisThreadNice();
    s = SetThisThreadSlice(absl::Microseconds(250));
    got = ThisThreadSlice();
    nice_after = ThisThreadNice();
  });
  t.join();
  std::thread u([&] { other = ThisThreadSlice(); });
  u.join();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(nice_after, nice_before);  // setting the slice keeps the nice value
  if (got != absl::ZeroDuration()) {
    EXPECT_EQ(got, absl::Microseconds(250));
    EXPECT_NE(other, absl::Microseconds(250));
  }
  EXPECT_TRUE(SetThisThreadSlice(absl::ZeroDuration()).ok());
}

TEST(ThreadPriorityTest, UsageCountsThisThreadsCpuAndSwitches) {
  const ThreadUsage start = ThisThreadUsage();
  // Busy for at least 20 ms of CPU, then sleep (a voluntary switch each).
  volatile double x = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(20)) x = x + 1;
  for (int i = 0; i < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const ThreadUsage used = ThisThreadUsage() - start;
  EXPECT_GT(used.cpu_seconds, 0.0);
  EXPECT_LT(used.cpu_seconds, 10.0);
  EXPECT_GE(used.switches, 3);
  // Another thread's sleeping does not count here.
  const ThreadUsage before = ThisThreadUsage();
  std::thread([] {
    for (int i = 0; i < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }).join();
  EXPECT_LE((ThisThreadUsage() - before).switches, 2);  // the join's own wait
}

TEST(ThreadPriorityTest, ProcessUsageCountsEveryThread) {
  const ThreadUsage start = ThisProcessUsage();
  const ThreadUsage mine = ThisThreadUsage();
  // Another thread burns 20 ms of its own CPU time and sleeps 5 times.
  std::thread([] {
    volatile double x = 0;
    const double t0 = ThisThreadUsage().cpu_seconds;
    while (ThisThreadUsage().cpu_seconds - t0 < 0.02) x = x + 1;
    for (int i = 0; i < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }).join();
  const ThreadUsage process = ThisProcessUsage() - start;
  const ThreadUsage thread = ThisThreadUsage() - mine;
  // The process's count has the other thread's CPU and sleeps; this
  // thread's own count has neither.
  EXPECT_GE(process.cpu_seconds, 0.02);
  EXPECT_LT(thread.cpu_seconds, 0.015);
  EXPECT_GE(process.switches, 5);
  EXPECT_LE(thread.switches, 2);
}

}  // namespace
}  // namespace hs
