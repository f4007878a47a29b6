// File: haiscale/thread_priority_test.cc
#include "haiscale/thread_priority.h"

#include <algorithm>
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

}  // namespace
}  // namespace hs
