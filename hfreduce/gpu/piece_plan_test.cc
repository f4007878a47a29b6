// File: hfreduce/gpu/piece_plan_test.cc
//
// PlanPieces: coverage, order, alignment, the slot bound, balance, and the
// argument errors; StagingSlotBytes rounding; StagingBytes.
#include "hfreduce/gpu/piece_plan.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "hfreduce/gpu/staged_allreduce.h"

namespace hs::hfreduce::gpu {
namespace {

void ExpectValid(const std::vector<Piece>& plan, int64_t count, DType dtype, int64_t slot_bytes) {
  const int64_t es = DTypeSize(dtype);
  int64_t next = 0, max_c = 0, min_c = count;
  for (size_t k = 0; k < plan.size(); ++k) {
    const Piece& p = plan[k];
    SCOPED_TRACE(testing::Message() << "count " << count << " piece " << k);
    EXPECT_EQ(p.first, next);
    EXPECT_GT(p.count, 0);
    EXPECT_EQ(p.byte_offset, p.first * es);
    EXPECT_EQ(p.bytes, p.count * es);
    EXPECT_LE(p.bytes, slot_bytes);
    EXPECT_EQ(p.byte_offset % kPieceAlignBytes, 0);
    next += p.count;
    max_c = std::max(max_c, p.count);
    if (k + 1 < plan.size()) min_c = std::min(min_c, p.count);
  }
  EXPECT_EQ(next, count);
  // As few pieces as the slot allows.
  const int64_t min_pieces = (count * es + slot_bytes - 1) / slot_bytes;
  EXPECT_EQ(static_cast<int64_t>(plan.size()), min_pieces);
  // Balanced: all but the last differ from the largest by no more than the
  // alignment (they are equal, in fact).
  if (plan.size() > 1) {
    EXPECT_EQ(min_c, max_c);
  }
}

TEST(PiecePlan, EmptyBuffer) {
  auto plan = PlanPieces(0, DType::kF32, 1024);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->empty());
}

TEST(PiecePlan, CoversEveryCountAndDtype) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (int64_t slot : {int64_t{64}, int64_t{1024}, int64_t{4096}, int64_t{65536}}) {
      for (int64_t count = 0; count < 3000; count += (count < 300 ? 1 : 37)) {
        auto plan = PlanPieces(count, dtype, slot);
        ASSERT_TRUE(plan.ok()) << plan.status();
        ExpectValid(*plan, count, dtype, slot);
      }
      for (int64_t count : {int64_t{7919}, int64_t{20011}, int64_t{1} << 20, (int64_t{1} << 20) + 1,
                            int64_t{104729}}) {
        auto plan = PlanPieces(count, dtype, slot);
        ASSERT_TRUE(plan.ok()) << plan.status();
        ExpectValid(*plan, count, dtype, slot);
      }
    }
  }
}

TEST(PiecePlan, OneElementOverASlotSplitsEvenly) {
  // 4 MiB of f32 + 1 element: two ~2 MiB pieces, not 4 MiB and a sliver.
  const int64_t slot = 4 << 20, count = (slot / 4) + 1;
  auto plan = PlanPieces(count, DType::kF32, slot);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].count, count / 2 + 16 - (count / 2) % 16);
  EXPECT_GT((*plan)[1].count, slot / 4 / 2 - 32);
}

TEST(PiecePlan, ExactMultiples) {
  auto plan = PlanPieces(3 * 256, DType::kF32, 1024);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 3u);
  for (const Piece& p : *plan) EXPECT_EQ(p.count, 256);
  plan = PlanPieces(512, DType::kBF16, 1024);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].bytes, 1024);
}

TEST(PiecePlan, SameInputsSamePlan) {
  auto a = PlanPieces(20011, DType::kBF16, 4096);
  auto b = PlanPieces(20011, DType::kBF16, 4096);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t k = 0; k < a->size(); ++k) EXPECT_EQ((*a)[k].first, (*b)[k].first);
}

TEST(PiecePlan, Errors) {
  EXPECT_TRUE(absl::IsInvalidArgument(PlanPieces(-1, DType::kF32, 1024).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PlanPieces(10, DType::kI32, 1024).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PlanPieces(10, DType::kF32, 100).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PlanPieces(10, DType::kF32, 0).status()));
}

TEST(PiecePlan, SlotBytesRoundDown) {
  EXPECT_EQ(StagingSlotBytes(4 << 20).value(), 4 << 20);
  EXPECT_EQ(StagingSlotBytes(1000).value(), 960);
  EXPECT_EQ(StagingSlotBytes(64).value(), 64);
  EXPECT_TRUE(absl::IsInvalidArgument(StagingSlotBytes(63).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(StagingSlotBytes(-5).status()));
}

TEST(PiecePlan, StagingBytes) {
  EXPECT_EQ(StagedAllReducer::StagingBytes({}), 3 * (4 << 20));
  EXPECT_EQ(StagedAllReducer::StagingBytes({1000, 5}), 5 * 960);
}

TEST(PiecePlan, Describe) {
  auto plan = PlanPieces(1000, DType::kF32, 1024).value();
  EXPECT_EQ(DescribePiece(plan, 1), "piece 1 of 4 (elements [256, 512))");
  EXPECT_EQ(DescribePiece(plan, 9), "piece 9 of 4");
}

}  // namespace
}  // namespace hs::hfreduce::gpu
