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

}  // namespace
}  // namespace hs
