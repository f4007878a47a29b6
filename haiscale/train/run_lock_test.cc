// File: haiscale/train/run_lock_test.cc
//
// RunDirLock: a second holder is refused with the directory and the
// holder's pid/host; release on destruction; a lock left by a process that
// was killed (-9) is taken over and its holder reported.
#include "haiscale/train/run_lock.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hs::train {
namespace {

using ::testing::HasSubstr;

std::string Dir(const std::string& name) {
  std::filesystem::path p = std::filesystem::path(std::getenv("TEST_TMPDIR")) / name;
  std::filesystem::remove_all(p);
  return p.string();
}

TEST(RunDirLockTest, SecondHolderIsRefusedUntilTheFirstReleases) {
  const std::string dir = Dir("run/nested");  // created by Acquire
  std::string previous;
  auto first = RunDirLock::Acquire(dir, &previous);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(previous, "");
  EXPECT_EQ((*first)->path(), dir + "/.hai_run.lock");
  auto second = RunDirLock::Acquire(dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(second.status().message());
  EXPECT_THAT(msg, HasSubstr(dir + " is in use by another job (pid " +
                             std::to_string(getpid()) + " on host "));
  EXPECT_THAT(msg, HasSubstr("run_lock_test"));  // the holder's command line
  first->reset();
  auto third = RunDirLock::Acquire(dir, &previous);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(previous, "");  // released cleanly: nothing stale
}

TEST(RunDirLockTest, LockOfAKilledProcessIsTakenOver) {
  const std::string dir = Dir("killed");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = RunDirLock::Acquire(dir);
    char ok = lock.ok() ? 'y' : 'n';
    (void)!write(ready[1], &ok, 1);
    for (;;) pause();
  }
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  ASSERT_EQ(ok, 'y');
  auto busy = RunDirLock::Acquire(dir);
  ASSERT_FALSE(busy.ok());
  EXPECT_THAT(std::string(busy.status().message()),
              HasSubstr("(pid " + std::to_string(child) + " on host "));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  std::string previous;
  auto mine = RunDirLock::Acquire(dir, &previous);
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_THAT(previous, HasSubstr("pid " + std::to_string(child)));
}

TEST(RunDirLockTest, UnwritableDirectoryNamesThePath) {
  auto lock = RunDirLock::Acquire("/proc/hs_no_such_dir/run");
  ASSERT_FALSE(lock.ok());
  EXPECT_THAT(std::string(lock.status().message()), HasSubstr("/proc/hs_no_such_dir"));
}

}  // namespace
}  // namespace hs::train
