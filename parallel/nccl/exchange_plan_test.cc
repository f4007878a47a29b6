// File: parallel/nccl/exchange_plan_test.cc
#include "parallel/nccl/exchange_plan.h"

#include "gtest/gtest.h"

namespace hs::parallel {
namespace {

TEST(ExchangePlanTest, PacksInPeerOrder) {
  auto plan = ExchangePlan::FromCounts({2, 0, 5}, {1, 3, 0}, 8, 1);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->sends.size(), 3u);
  EXPECT_EQ(plan->sends[0].offset, 0);
  EXPECT_EQ(plan->sends[0].bytes, 16);
  EXPECT_EQ(plan->sends[1].offset, 16);
  EXPECT_EQ(plan->sends[1].bytes, 0);
  EXPECT_EQ(plan->sends[2].offset, 16);
  EXPECT_EQ(plan->sends[2].bytes, 40);
  EXPECT_EQ(plan->send_bytes, 56);
  EXPECT_EQ(plan->recvs[1].peer, 1);
  EXPECT_EQ(plan->recvs[1].offset, 8);
  EXPECT_EQ(plan->recvs[1].bytes, 24);
  EXPECT_EQ(plan->recv_bytes, 32);
}

TEST(ExchangePlanTest, RejectsBadInput) {
  auto neg = ExchangePlan::FromCounts({1, -1}, {0, 0}, 4, 0);
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.status().message().find("peer 1"), std::string::npos) << neg.status();
  EXPECT_NE(neg.status().message().find("rank 0"), std::string::npos) << neg.status();
  EXPECT_FALSE(ExchangePlan::FromCounts({1}, {1, 2}, 4, 0).ok());
  EXPECT_FALSE(ExchangePlan::FromCounts({1, 1}, {1, 2}, 0, 0).ok());
  EXPECT_FALSE(ExchangePlan::FromCounts({1, 1}, {1, 2}, 4, 2).ok());
}

}  // namespace
}  // namespace hs::parallel
