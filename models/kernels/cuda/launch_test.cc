// File: models/kernels/cuda/launch_test.cc
//
// Host-side checks of the CUDA launch shapes (runs in the default CPU
// build, no CUDA needed): limits, coverage of every element, the
// shared-memory and scratch sizes, and that the AdamW constants are the
// ones optim::AdamWUpdate uses.
#include "models/kernels/cuda/launch.h"

#include <cmath>

#include "gtest/gtest.h"

namespace hs::kernels::cuda {
namespace {

void ExpectValidBlock(const LaunchShape& s) {
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.block % 32, 0);
  EXPECT_GE(s.block, 32);
  EXPECT_LE(s.block, kMaxBlock);
  EXPECT_LE(s.grid_x, kMaxGridX);
  EXPECT_LE(s.grid_y, kMaxGridY);
  EXPECT_LE(s.smem_bytes, kDefaultSmemBytes);
}

TEST(LaunchTest, RowBlockSize) {
  EXPECT_EQ(RowBlockSize(1, 8), 32);
  EXPECT_EQ(RowBlockSize(2048, 8), 256);
  EXPECT_EQ(RowBlockSize(1000, 8), 128);  // 125 -> 128
  EXPECT_EQ(RowBlockSize(1 << 30, 4), 1024);
}

TEST(LaunchTest, RmsNorm) {
  for (int64_t C : {1, 64, 1000, 2048, 5120, 12288}) {
    LaunchShape f = RmsNormForwardShape(4096, C);
    ExpectValidBlock(f);
    EXPECT_EQ(f.grid_x, 4096);
    EXPECT_LE(f.block, 512);
    LaunchShape b = RmsNormBackwardShape(4096, C);
    ExpectValidBlock(b);
    EXPECT_EQ(b.grid_x, kRmsNormBackwardMaxBlocks);
    EXPECT_EQ(b.smem_bytes, 4 * C);
    EXPECT_EQ(b.scratch_elems, b.grid_x * C);
    LaunchShape r = RmsNormReduceShape(C);
    ExpectValidBlock(r);
    EXPECT_GE(r.grid_x * r.block, C);
  }
  EXPECT_EQ(RmsNormBackwardShape(7, 100).grid_x, 7);  // never more blocks than rows
  EXPECT_FALSE(RmsNormBackwardShape(8, 12289).ok());  // partials exceed 48 KiB
  EXPECT_FALSE(RmsNormForwardShape(0, 10).ok());
  EXPECT_FALSE(RmsNormForwardShape(10, 0).ok());
}

TEST(LaunchTest, Elementwise) {
  EXPECT_FALSE(ElementwiseShape(0).ok());
  LaunchShape s = ElementwiseShape(1000);
  ExpectValidBlock(s);
  EXPECT_EQ(s.grid_x, 4);
  s = ElementwiseShape(int64_t(1) << 34);  // grid-stride covers the rest
  ExpectValidBlock(s);
  EXPECT_EQ(s.grid_x, 65536);
}

TEST(LaunchTest, EmbeddingBackward) {
  LaunchShape s = EmbeddingBackwardShape(4096, 2048, 102400);
  ExpectValidBlock(s);
  EXPECT_EQ(s.grid_x, 8);
  EXPECT_EQ(s.grid_y, 128);  // 1024 blocks
  EXPECT_EQ(s.smem_bytes, kEmbeddingTokenTile * 4);
  // Never more partitions than vocabulary rows.
  EXPECT_EQ(EmbeddingBackwardShape(10, 3, 5).grid_y, 5);
  EXPECT_LE(EmbeddingBackwardShape(10, 1 << 20, 100).grid_y, 100);
  EXPECT_GE(EmbeddingBackwardShape(10, 1 << 20, 100).grid_y, 1);
}

TEST(LaunchTest, RopeCoversEveryPairOnce) {
  for (int64_t D : {2, 16, 64, 128, 2048}) {
    const int64_t B = 3, T = 5, H = 7;
    LaunchShape s = RopeShape(B, T, H, D);
    ASSERT_TRUE(s.ok()) << D;
    const int vpb = RopeVectorsPerBlock(D);
    EXPECT_EQ(s.block, vpb * (D / 2));  // whole vectors per block
    EXPECT_LE(s.block, kMaxBlock);
    EXPECT_GE(s.grid_x * vpb, B * T * H);
    EXPECT_LT((s.grid_x - 1) * vpb, B * T * H);
  }
  EXPECT_EQ(RopeShape(1, 1, 1, 64).block, 256);  // 8 vectors of 32 pairs
  EXPECT_FALSE(RopeShape(1, 1, 1, 63).ok());
  EXPECT_FALSE(RopeShape(1, 1, 1, 4096).ok());
}

TEST(LaunchTest, CrossEntropy) {
  LaunchShape s = CrossEntropyShape(4096, 102400);
  ExpectValidBlock(s);
  EXPECT_EQ(s.grid_x, 4096);
  EXPECT_EQ(s.block, 512);
  EXPECT_EQ(CrossEntropyShape(3, 10).block, 32);
}

TEST(LaunchTest, SumSquares) {
  LaunchShape s = SumSquaresShape(1000);
  ExpectValidBlock(s);
  EXPECT_EQ(s.grid_x, 1);
  s = SumSquaresShape(int64_t(16) << 30);
  EXPECT_EQ(s.grid_x, kSumSquaresMaxBlocks);
  EXPECT_EQ(s.scratch_elems, s.grid_x);
}

TEST(LaunchTest, AdamWScalarsMatchTheCpuFormula) {
  const double lr = 3e-4, wd = 0.1, b1 = 0.9, b2 = 0.95, eps = 1e-8;
  for (int64_t t : {1, 2, 10, 1000}) {
    AdamWScalars a = MakeAdamWScalars(lr, wd, b1, b2, eps, t);
    EXPECT_EQ(a.step_size, float(lr / (1.0 - std::pow(b1, double(t)))));
    EXPECT_EQ(a.inv_sqrt_bc2, float(1.0 / std::sqrt(1.0 - std::pow(b2, double(t)))));
    EXPECT_EQ(a.decay_keep, float(1.0 - lr * wd));
    EXPECT_EQ(a.b1, 0.9f);
    EXPECT_EQ(a.one_minus_b2, float(1.0 - b2));
    EXPECT_EQ(a.eps, 1e-8f);
  }
}

}  // namespace
}  // namespace hs::kernels::cuda
