// File: models/kernels/cuda/launch_test.cc
//
// Host-side checks of the CUDA launch shapes (runs in the default CPU
// build, no CUDA needed): limits, coverage of every element, the
// shared-memory and scratch sizes, and that the AdamW constants are the
// ones optim::AdamWUpdate uses.
#include "models/kernels/cuda/launch.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

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

// Every region of an attention plan lies inside smem_bytes, starts on a
// 128-byte boundary and does not overlap another one.
void ExpectRegionsDisjoint(const AttentionPlan& p, std::vector<std::pair<int64_t, int64_t>> r) {
  std::sort(r.begin(), r.end());
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_GE(r[i].first, 0);
    EXPECT_EQ(r[i].first % 128, 0);
    EXPECT_LE(r[i].first + r[i].second, p.shape.smem_bytes);
    if (i > 0) EXPECT_LE(r[i - 1].first + r[i - 1].second, r[i].first);
  }
}

constexpr int64_t kA100SmemOptin = 166912;  // 163 KiB

TEST(LaunchTest, AttentionPlans) {
  struct Dims { int64_t Dk, Dv; };
  for (Dims d : {Dims{192, 128}, Dims{48, 32}, Dims{24, 16}, Dims{1, 1}}) {
    const AttentionPlan f = AttentionForwardPlan(2, 1000, 16, d.Dk, d.Dv);
    const AttentionPlan kv = AttentionBackwardKvPlan(2, 1000, 16, d.Dk, d.Dv);
    const AttentionPlan q = AttentionBackwardQPlan(2, 1000, 16, d.Dk, d.Dv);
    for (const AttentionPlan* p : {&f, &kv, &q}) {
      ASSERT_TRUE(p->shape.ok());
      EXPECT_EQ(p->shape.block, kAttnThreads);
      EXPECT_LE(p->shape.smem_bytes, kA100SmemOptin) << "Dk=" << d.Dk << " Dv=" << d.Dv;
      EXPECT_EQ(p->dk_pad % 16, 0);
      EXPECT_EQ(p->dv_pad % 16, 0);
      EXPECT_GE(p->dk_pad, d.Dk);
      EXPECT_GE(p->dv_pad, d.Dv);
      // WMMA: bf16 leading dims multiples of 8, fp32 ones of 4.
      EXPECT_EQ(p->ld_qk % 8, 0);
      EXPECT_EQ(p->ld_v % 8, 0);
      EXPECT_EQ(p->ld_p % 8, 0);
      EXPECT_EQ(p->ld_s % 4, 0);
      EXPECT_EQ(p->ld_acc_k % 4, 0);
      EXPECT_EQ(p->ld_acc_v % 4, 0);
      EXPECT_EQ(p->rows_q % 16, 0);
      EXPECT_EQ(p->rows_k % 16, 0);
    }
    EXPECT_EQ(f.tiles, 16);   // ceil(1000 / 64) query tiles
    EXPECT_EQ(kv.tiles, 32);  // ceil(1000 / 32) key tiles
    EXPECT_EQ(f.shape.grid_x, 16 * 2 * 16);
    ExpectRegionsDisjoint(f, {{f.off_q, f.rows_q * f.ld_qk * 2},
                              {f.off_k, f.rows_k * f.ld_qk * 2},
                              {f.off_v, f.rows_k * f.ld_v * 2},
                              {f.off_s, f.rows_q * f.ld_s * 4},
                              {f.off_p, f.rows_q * f.ld_p * 2},
                              {f.off_acc_v, f.rows_q * f.ld_acc_v * 4},
                              {f.off_rows, f.rows_q * 8}});
    ExpectRegionsDisjoint(kv, {{kv.off_k, kv.rows_k * kv.ld_qk * 2},
                               {kv.off_v, kv.rows_k * kv.ld_v * 2},
                               {kv.off_q, kv.rows_q * kv.ld_qk * 2},
                               {kv.off_dout, kv.rows_q * kv.ld_v * 2},
                               {kv.off_s, kv.rows_k * kv.ld_s * 4},
                               {kv.off_dp, kv.rows_k * kv.ld_s * 4},
                               {kv.off_p, kv.rows_k * kv.ld_p * 2},
                               {kv.off_ds, kv.rows_k * kv.ld_p * 2},
                               {kv.off_acc_k, kv.rows_k * kv.ld_acc_k * 4},
                               {kv.off_acc_v, kv.rows_k * kv.ld_acc_v * 4},
                               {kv.off_rows, kv.rows_q * 8}});
    ExpectRegionsDisjoint(q, {{q.off_q, q.rows_q * q.ld_qk * 2},
                              {q.off_dout, q.rows_q * q.ld_v * 2},
                              {q.off_k, q.rows_k * q.ld_qk * 2},
                              {q.off_v, q.rows_k * q.ld_v * 2},
                              {q.off_s, q.rows_q * q.ld_s * 4},
                              {q.off_dp, q.rows_q * q.ld_s * 4},
                              {q.off_ds, q.rows_q * q.ld_p * 2},
                              {q.off_acc_k, q.rows_q * q.ld_acc_k * 4},
                              {q.off_rows, q.rows_q * 8}});
  }
  // Score tile widths: forward/dQ over keys, dK/dV over queries.
  EXPECT_EQ(AttentionForwardPlan(1, 64, 1, 192, 128).ld_s, 64 + 4);
  EXPECT_EQ(AttentionBackwardKvPlan(1, 64, 1, 192, 128).ld_s, 64 + 4);
  EXPECT_EQ(AttentionBackwardQPlan(1, 64, 1, 192, 128).ld_s, 32 + 4);
  EXPECT_EQ(AttentionForwardPlan(1, 64, 1, 24, 16).dk_pad, 32);
  EXPECT_FALSE(AttentionForwardPlan(1, 64, 1, 257, 128).shape.ok());
  EXPECT_FALSE(AttentionForwardPlan(1, 0, 1, 192, 128).shape.ok());
  // 256/256 fits an H100 (227 KiB) but not an A100.
  EXPECT_GT(AttentionForwardPlan(1, 64, 1, 256, 256).shape.smem_bytes, kA100SmemOptin);
  EXPECT_LE(AttentionForwardPlan(1, 64, 1, 256, 256).shape.smem_bytes, 232448);
  LaunchShape rd = AttentionRowDotShape(2, 1000, 16);
  ExpectValidBlock(rd);
  EXPECT_GE(rd.grid_x * 8, 2 * 1000 * 16);
}

TEST(LaunchTest, Moe) {
  LaunchShape r = MoeRouterShape(4096, 160, 8);
  ExpectValidBlock(r);
  EXPECT_EQ(r.grid_x * kMoeWarps, 4096);
  EXPECT_EQ(r.smem_bytes, kMoeWarps * (160 + 8) * 4);
  ExpectValidBlock(MoeRouterShape(1, kMoeMaxExperts, kMoeMaxExperts));
  EXPECT_FALSE(MoeRouterShape(1, kMoeMaxExperts + 1, 0).ok());
  EXPECT_EQ(MoePermuteChunks(1), 1);
  EXPECT_EQ(MoePermuteChunks(4096 * 6), 96);
  LaunchShape c = MoePermuteCountShape(4096 * 6, 160);
  ExpectValidBlock(c);
  EXPECT_EQ(c.grid_x * 4, 96);  // one warp per chunk
  EXPECT_EQ(c.scratch_elems, 96 * 160);
  EXPECT_GE(kPermuteScanThreads, kMoeMaxExperts);  // one scan thread per expert
  LaunchShape row = MoeRowShape(4096, 5120);
  ExpectValidBlock(row);
  EXPECT_EQ(row.grid_x, 4096);
}

}  // namespace
}  // namespace hs::kernels::cuda
