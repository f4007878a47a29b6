// File: haiscale/train/comm_trace_test.cc
#include "haiscale/train/comm_trace.h"

#include "gtest/gtest.h"

namespace hs::train {
namespace {

TEST(CommTrace, SummarizesByBucketIndex) {
  // Three steps of two buckets (seconds); bucket 1 ran first in step 2.
  std::vector<std::vector<parallel::BucketSpan>> steps = {
      {{0, 1 << 20, false, -0.100, -0.050}, {1, 1 << 18, true, -0.001, 0.004}},
      {{0, 1 << 20, false, -0.120, -0.030}, {1, 1 << 18, true, 0.000, 0.006}},
      {{1, 1 << 18, true, 0.002, 0.010}, {0, 1 << 20, false, -0.090, -0.040}},
  };
  std::vector<BucketTraceRow> rows = SummarizeCommTrace(steps);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].index, 0);
  EXPECT_EQ(rows[0].samples, 3);
  EXPECT_FALSE(rows[0].row_sparse);
  EXPECT_DOUBLE_EQ(rows[0].start_ms, -100.0);
  EXPECT_DOUBLE_EQ(rows[0].start_min, -120.0);
  EXPECT_DOUBLE_EQ(rows[0].start_max, -90.0);
  EXPECT_DOUBLE_EQ(rows[0].end_ms, -40.0);
  EXPECT_EQ(rows[1].index, 1);
  EXPECT_TRUE(rows[1].row_sparse);
  EXPECT_EQ(rows[1].floats, 1 << 18);
  EXPECT_DOUBLE_EQ(rows[1].end_ms, 6.0);
  EXPECT_DOUBLE_EQ(rows[1].end_max, 10.0);
  const std::string table = FormatCommTrace(rows);
  EXPECT_NE(table.find("row-sparse"), std::string::npos) << table;
  EXPECT_NE(table.find("   4.00 | dense"), std::string::npos) << table;  // 1 Mi floats = 4 MiB
  EXPECT_EQ(CommTraceJson(rows).front(), '[');
  EXPECT_NE(CommTraceJson(rows).find("\"bucket\": 1, \"mb\": 1.000, \"row_sparse\": true"),
            std::string::npos);
}

TEST(CommTrace, EvenCountMedianIsTheMiddlePair) {
  std::vector<std::vector<parallel::BucketSpan>> steps = {
      {{0, 4, false, 0.001, 0.002}}, {{0, 4, false, 0.003, 0.004}}};
  std::vector<BucketTraceRow> rows = SummarizeCommTrace(steps);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].start_ms, 2.0);
  EXPECT_DOUBLE_EQ(rows[0].end_ms, 3.0);
}

}  // namespace
}  // namespace hs::train
