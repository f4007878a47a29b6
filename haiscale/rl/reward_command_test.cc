// File: haiscale/rl/reward_command_test.cc
#include "haiscale/rl/reward_command.h"

#include <gtest/gtest.h>

#include "haiscale/clock.h"

namespace hs::rl {
namespace {

std::vector<Completion> Batch(const std::vector<nlohmann::json>& records) {
  std::vector<Completion> batch;
  for (size_t i = 0; i < records.size(); ++i) {
    batch.push_back({&records[i], "text " + std::to_string(i), int64_t(i + 1), false});
  }
  return batch;
}

TEST(RewardCommand, GoodAnswersOverSeveralBatches) {
  // Reward = completion_tokens read back from the JSON line the command got.
  auto cmd = RewardCommand::Start(
      "tokens",
      "while IFS= read -r line; do echo \"$line\" | sed 's/.*\"completion_tokens\":\\([0-9]*\\).*/\\1/'; done",
      10.0);
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  std::vector<nlohmann::json> recs(3, nlohmann::json{{"prompt", "p"}});
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<std::vector<double>> r = (*cmd)->Score(Batch(recs));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, (std::vector<double>{1, 2, 3}));
  }
}

TEST(RewardCommand, SeesRecordFieldsAndCompletion) {
  auto cmd = RewardCommand::Start(
      "grep", "while IFS= read -r line; do case \"$line\" in *'\"answer\":7'*'\"completion\":\"text 0\"'*) echo 1;; *) echo 0;; esac; done",
      10.0);
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  std::vector<nlohmann::json> recs = {{{"answer", 7}}, {{"answer", 8}}};
  absl::StatusOr<std::vector<double>> r = (*cmd)->Score(Batch(recs));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<double>{1, 0}));
}

TEST(RewardCommand, LargeBatchDoesNotDeadlockOnPipes) {
  // 20000 lines of ~100 bytes each exceed the pipe buffers both ways.
  auto cmd = RewardCommand::Start("cat-like", "while IFS= read -r line; do echo 0.5; done", 60.0);
  ASSERT_TRUE(cmd.ok());
  std::vector<nlohmann::json> recs(20000, nlohmann::json{{"prompt", std::string(80, 'x')}});
  absl::StatusOr<std::vector<double>> r = (*cmd)->Score(Batch(recs));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 20000u);
  EXPECT_EQ(r->back(), 0.5);
}

TEST(RewardCommand, MalformedLineIsAnErrorNamingTheLine) {
  auto cmd = RewardCommand::Start("bad", "read -r a; echo 1; read -r b; echo oops", 10.0);
  ASSERT_TRUE(cmd.ok());
  std::vector<nlohmann::json> recs(2, nlohmann::json::object());
  absl::StatusOr<std::vector<double>> r = (*cmd)->Score(Batch(recs));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("oops"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("reward command bad"), std::string::npos) << r.status();
  EXPECT_FALSE((*cmd)->Score(Batch(recs)).ok());  // stays failed
}

TEST(RewardCommand, NonFiniteIsMalformed) {
  auto cmd = RewardCommand::Start("nan", "read -r a; echo nan; sleep 5", 10.0);
  ASSERT_TRUE(cmd.ok());
  std::vector<nlohmann::json> recs(1, nlohmann::json::object());
  EXPECT_FALSE((*cmd)->Score(Batch(recs)).ok());
}

TEST(RewardCommand, ExtraOutputIsAnError) {
  auto cmd = RewardCommand::Start("chatty", "read -r a; printf '1\\n2\\n'; sleep 5", 10.0);
  ASSERT_TRUE(cmd.ok());
  std::vector<nlohmann::json> recs(1, nlohmann::json::object());
  absl::StatusOr<std::vector<double>> r = (*cmd)->Score(Batch(recs));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than the 1 expected"), std::string::npos) << r.status();
}

TEST(RewardCommand, TimeoutKillsAndReports) {
  auto cmd = RewardCommand::Start("slow", "read -r a; echo 1; sleep 30", 0.5);
  ASSERT_TRUE(cmd.ok());
  std::vector<nlohmann::json> recs(2, nlohmann::json::object());
  const double start = NowSeconds();
  absl::StatusOr<std::vector<double>> r = (*cmd)->Score(Batch(recs));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(r.status().message().find("answered 1 of 2"), std::string::npos) << r.status();
  // Returned at the deadline, not after the command's sleep (a hang guard,
  // with ample slack for a loaded machine).
  EXPECT_LT(NowSeconds() - start, 20.0);
}

TEST(RewardCommand, CrashReportsExitStatus) {
  auto cmd = RewardCommand::Start("crash", "read -r a; echo 1; exit 3", 10.0);
  ASSERT_TRUE(cmd.ok());
  std::vector<nlohmann::json> recs(2, nlohmann::json::object());
  absl::StatusOr<std::vector<double>> r = (*cmd)->Score(Batch(recs));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(r.status().message().find("answered 1 of 2"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("exited with status 3"), std::string::npos) << r.status();
}

TEST(RewardCommand, MissingProgramReportsExit127) {
  auto cmd = RewardCommand::Start("missing", "/nonexistent/reward-program", 10.0);
  ASSERT_TRUE(cmd.ok());  // the shell starts; the program does not
  std::vector<nlohmann::json> recs(1, nlohmann::json::object());
  absl::StatusOr<std::vector<double>> r = (*cmd)->Score(Batch(recs));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("127"), std::string::npos) << r.status();
}

TEST(RewardCommand, BadArguments) {
  EXPECT_FALSE(RewardCommand::Start("x", "", 1.0).ok());
  EXPECT_FALSE(RewardCommand::Start("x", "cat", 0.0).ok());
}

}  // namespace
}  // namespace hs::rl
