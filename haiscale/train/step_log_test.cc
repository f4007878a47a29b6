#include "haiscale/train/step_log.h"

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace hs::train {
namespace {

TEST(StepLogTest, LineHasEveryColumn) {
  StepMetrics m{.step = 3, .total_steps = 100, .loss = 2.5, .aux_loss = 0.01, .lr = 1e-3,
                .grad_norm = 0.75, .step_seconds = 0.25, .tokens_per_s = 4096, .gflops = 12.5,
                .mfu = 0.031, .eta_seconds = 125};
  std::string line = StepLog::FormatLine(m);
  for (const char* part : {"step   3/100", "loss 2.5000", "aux 0.0100", "lr 1.00e-03",
                           "gnorm 0.750", "250 ms", "4.1K tok/s", "12.5 GFLOP/s", "MFU 3.1%",
                           "ETA 2m05s"})
    EXPECT_NE(line.find(part), std::string::npos) << part << " in " << line;
}

TEST(StepLogTest, JsonIsOneParseableObject) {
  StepMetrics m{.step = 1, .loss = NAN};
  std::string j = StepLog::FormatJson(m);
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.back(), '}');
  EXPECT_NE(j.find("\"loss\": null"), std::string::npos) << j;
  EXPECT_EQ(j.find('\n'), std::string::npos);
  // The embedding's share only while its gradient goes row-sparse.
  EXPECT_EQ(j.find("embedding_rows_reduced"), std::string::npos) << j;
  m.embedding_rows_reduced = 0.25;
  j = StepLog::FormatJson(m);
  EXPECT_NE(j.find(", \"embedding_rows_reduced\": 0.25"), std::string::npos) << j;
  EXPECT_EQ(j.back(), '}');
}

TEST(StepLogTest, AppendsToFile) {
  std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/m.jsonl";
  {
    auto log = StepLog::Open(path, false);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Log({.step = 1}, false).ok());
    ASSERT_TRUE((*log)->Log({.step = 2}, false).ok());
  }
  std::ifstream in(path);
  std::string a, b;
  std::getline(in, a);
  std::getline(in, b);
  EXPECT_NE(a.find("\"step\": 1"), std::string::npos);
  EXPECT_NE(b.find("\"step\": 2"), std::string::npos);
  EXPECT_FALSE(StepLog::Open("/nonexistent/dir/m.jsonl", false).ok());
}

TEST(StepLogTest, Durations) {
  EXPECT_EQ(FormatDuration(42), "42s");
  EXPECT_EQ(FormatDuration(3725), "1h02m");
}

}  // namespace
}  // namespace hs::train
