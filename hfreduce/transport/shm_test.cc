// File: hfreduce/transport/shm_test.cc — segment naming, creation/opening
// checks, and stale-segment detection (single process; a forked child plays
// the crashed job).
#include "hfreduce/transport/shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "gtest/gtest.h"

namespace hs::hfreduce {
namespace {

uint64_t RandomKey() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

TEST(ShmTest, NameRoundTrips) {
  std::string name = ShmSegmentName(1000, 0x00ab0000cd00ef01ull, 3);
  EXPECT_EQ(name, "/hfreduce-1000-00ab0000cd00ef01-n3");
  uid_t uid;
  uint64_t key;
  int node;
  ASSERT_TRUE(ParseShmSegmentName(name, &uid, &key, &node));
  EXPECT_EQ(uid, 1000u);
  EXPECT_EQ(key, 0x00ab0000cd00ef01ull);
  EXPECT_EQ(node, 3);
  EXPECT_TRUE(ParseShmSegmentName(name.substr(1), &uid, &key, &node));
  EXPECT_FALSE(ParseShmSegmentName("/hfreduce-1000-00ab-n3", &uid, &key, &node));
  EXPECT_FALSE(ParseShmSegmentName("/other-1000-00ab0000cd00ef01-n3", &uid, &key, &node));
  EXPECT_FALSE(ParseShmSegmentName(name + "x", &uid, &key, &node));
}

TEST(ShmTest, CreateOpenAndModeAndJobCheck) {
  uint64_t key = RandomKey();
  std::string name = ShmSegmentName(geteuid(), key, 0);
  const int64_t bytes = ShmSegment::kHeaderBytes + 8192;
  auto created = ShmSegment::Create(name, bytes, key);
  ASSERT_TRUE(created.ok()) << created.status();
  struct stat st;
  int fd = shm_open(name.c_str(), O_RDONLY, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  close(fd);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  static_cast<char*>((*created)->data())[5] = 42;

  auto opened = ShmSegment::Open(name, bytes, key);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(static_cast<char*>((*opened)->data())[5], 42);
  // Another job's key or a different size is refused.
  EXPECT_FALSE(ShmSegment::Open(name, bytes, key ^ 1).ok());
  EXPECT_FALSE(ShmSegment::Open(name, bytes + 4096, key).ok());
  // A live segment is never replaced, and it is not stale.
  EXPECT_FALSE(IsStaleShmSegment(name));
  EXPECT_FALSE(ShmSegment::Create(name, bytes, key).ok());
  // After Unlink the name is gone but the mapping still works.
  (*created)->Unlink();
  EXPECT_FALSE(ShmSegment::Open(name, bytes, key).ok());
  EXPECT_EQ(static_cast<char*>((*opened)->data())[5], 42);
}

TEST(ShmTest, StaleSegmentOfDeadCreatorIsReplacedAndScanned) {
  uint64_t key = RandomKey();
  std::string name = ShmSegmentName(geteuid(), key, 1);
  const int64_t bytes = ShmSegment::kHeaderBytes + 4096;
  // A child creates the segment and dies without cleaning up (_exit skips
  // destructors), like a crashed job.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto seg = ShmSegment::Create(name, bytes, key);
    if (!seg.ok()) _exit(1);
    seg->release();  // leak it: no unlink
    _exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  EXPECT_TRUE(IsStaleShmSegment(name));
  // Creating under the same name replaces the stale segment.
  auto seg = ShmSegment::Create(name, bytes, key);
  ASSERT_TRUE(seg.ok()) << seg.status();
  EXPECT_FALSE(IsStaleShmSegment(name));
  seg->reset();

  // The scan removes another stale segment.
  std::string name2 = ShmSegmentName(geteuid(), key, 2);
  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s2 = ShmSegment::Create(name2, bytes, key);
    if (!s2.ok()) _exit(1);
    s2->release();
    _exit(0);
  }
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  EXPECT_GE(RemoveStaleShmSegments(), 1);
  int fd = shm_open(name2.c_str(), O_RDONLY, 0);
  EXPECT_LT(fd, 0) << "stale segment survived the scan";
  if (fd >= 0) close(fd);
}

}  // namespace
}  // namespace hs::hfreduce
