// BatchLayout: the global batch over data-parallel ranks and micro-batches,
// and errors that name the field to change.
#include "haiscale/train/batch_layout.h"

#include <string>

#include "gtest/gtest.h"

namespace hs::train {
namespace {

config::RunConfig BatchConfig(int64_t global, int64_t micro, int64_t seq = 16) {
  config::RunConfig c;
  c.mutable_train()->set_global_batch_size(global);
  c.mutable_train()->set_micro_batch_size(micro);
  c.mutable_train()->set_seq_len(seq);
  return c;
}

TEST(BatchLayoutTest, SlicesTheGlobalBatchOverRanksAndMicroBatches) {
  // 8 sequences, micro-batches of 2: 4 on one rank, 2 per rank on two.
  auto one = DeriveBatchLayout(BatchConfig(8, 2), 1, 0, 1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->micro_batches, 4);
  EXPECT_EQ(one->local_first, 0);
  EXPECT_EQ(one->local_count, 8);
  auto second = DeriveBatchLayout(BatchConfig(8, 2), 2, 1, 1);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->micro_batches, 2);
  EXPECT_EQ(second->local_first, 4);
  EXPECT_EQ(second->local_count, 4);
  EXPECT_EQ(second->seq_len, 16);
}

TEST(BatchLayoutTest, SmallSlicesRunAsOneMicroBatch) {
  // 4 ranks x micro-batch 2 > 4 sequences: each rank runs its one sequence.
  auto l = DeriveBatchLayout(BatchConfig(4, 2), 4, 3, 1);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->micro_batch, 1);
  EXPECT_EQ(l->micro_batches, 1);
  EXPECT_EQ(l->local_first, 3);
}

TEST(BatchLayoutTest, PipelineMicroBatchCountGivesTheSize) {
  config::RunConfig c = BatchConfig(8, 0);
  c.mutable_parallel()->set_micro_batches(4);
  auto l = DeriveBatchLayout(c, 1, 0, 2);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->micro_batch, 2);
  EXPECT_EQ(l->micro_batches, 4);
}

TEST(BatchLayoutTest, ErrorsNameTheField) {
  config::RunConfig c = BatchConfig(8, 0);
  c.mutable_parallel()->set_micro_batches(3);
  auto l = DeriveBatchLayout(c, 1, 0, 1);
  ASSERT_FALSE(l.ok());
  EXPECT_NE(std::string(l.status().message()).find("parallel.micro_batches"), std::string::npos);
  // Too few micro-batches to fill a 4-stage pipeline.
  auto pp = DeriveBatchLayout(BatchConfig(4, 2), 1, 0, 4);
  ASSERT_FALSE(pp.ok());
  EXPECT_NE(std::string(pp.status().message()).find("pipeline stages"), std::string::npos);
  auto odd = DeriveBatchLayout(BatchConfig(6, 4), 1, 0, 1);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(std::string(odd.status().message()).find("train.global_batch_size"),
            std::string::npos);
}

}  // namespace
}  // namespace hs::train
