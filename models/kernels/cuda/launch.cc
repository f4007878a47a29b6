// File: models/kernels/cuda/launch.cc
//
// Launch-shape arithmetic for models/kernels/cuda (see launch.h).
#include "models/kernels/cuda/launch.h"

#include <algorithm>
#include <cmath>

namespace hs::kernels::cuda {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

int RowBlockSize(int64_t width, int per_thread) {
  int64_t threads = CeilDiv(std::max<int64_t>(width, 1), std::max(per_thread, 1));
  threads = CeilDiv(threads, 32) * 32;
  return int(std::clamp<int64_t>(threads, 32, kMaxBlock));
}

LaunchShape RmsNormForwardShape(int64_t N, int64_t C) {
  LaunchShape s;
  if (N <= 0 || C <= 0 || N > kMaxGridX) return s;
  s.grid_x = N;
  s.block = RowBlockSize(C, 8);
  s.block = std::min(s.block, 512);
  return s;
}

LaunchShape RmsNormBackwardShape(int64_t N, int64_t C) {
  LaunchShape s;
  if (N <= 0 || C <= 0 || 4 * C > kDefaultSmemBytes) return s;
  s.grid_x = std::min(N, kRmsNormBackwardMaxBlocks);
  s.block = std::min(RowBlockSize(C, 8), 512);
  s.smem_bytes = 4 * C;
  s.scratch_elems = s.grid_x * C;
  return s;
}

LaunchShape RmsNormReduceShape(int64_t C) {
  LaunchShape s;
  if (C <= 0) return s;
  s.grid_x = CeilDiv(C, kRmsNormReduceBlock);
  s.block = kRmsNormReduceBlock;
  return s;
}

LaunchShape ElementwiseShape(int64_t n) {
  LaunchShape s;
  if (n <= 0) return s;
  s.block = 256;
  s.grid_x = std::min<int64_t>(CeilDiv(n, 256), 65536);
  return s;
}

LaunchShape EmbeddingBackwardShape(int64_t N, int64_t C, int64_t V) {
  LaunchShape s;
  if (N <= 0 || C <= 0 || V <= 0) return s;
  s.block = 256;
  s.grid_x = CeilDiv(C, 256);
  // Enough partitions for ~1024 blocks, never more than the vocabulary or
  // the grid's y limit. Each block scans all N tokens (cheap: one shared
  // memory read per token) and updates only its partition's rows.
  int64_t p = CeilDiv(1024, s.grid_x);
  p = std::clamp<int64_t>(p, 1, std::min<int64_t>(V, 256));
  s.grid_y = p;
  s.smem_bytes = int64_t(kEmbeddingTokenTile) * 4;
  return s;
}

int RopeVectorsPerBlock(int64_t D) {
  const int64_t half = D / 2;
  return int(std::max<int64_t>(1, 256 / std::max<int64_t>(half, 1)));
}

LaunchShape RopeShape(int64_t B, int64_t T, int64_t H, int64_t D) {
  LaunchShape s;
  if (B <= 0 || T <= 0 || H <= 0 || D <= 0 || D % 2 != 0 || D / 2 > kMaxBlock) {
    return s;
  }
  const int vpb = RopeVectorsPerBlock(D);
  s.block = int(vpb * (D / 2));
  s.grid_x = CeilDiv(B * T * H, vpb);
  return s;
}

LaunchShape CrossEntropyShape(int64_t N, int64_t V) {
  LaunchShape s;
  if (N <= 0 || V <= 0 || N > kMaxGridX) return s;
  s.grid_x = N;
  s.block = std::min(RowBlockSize(V, 4), 512);
  return s;
}

LaunchShape SumSquaresShape(int64_t n) {
  LaunchShape s;
  if (n <= 0) return s;
  s.block = 256;
  s.grid_x = std::min(CeilDiv(n, 1024), kSumSquaresMaxBlocks);
  s.scratch_elems = s.grid_x;
  return s;
}

AdamWScalars MakeAdamWScalars(double lr, double weight_decay, double beta1,
                              double beta2, double eps, int64_t t) {
  const double bc1 = 1.0 - std::pow(beta1, double(t));
  const double bc2 = 1.0 - std::pow(beta2, double(t));
  AdamWScalars a;
  a.b1 = float(beta1);
  a.one_minus_b1 = float(1.0 - beta1);
  a.b2 = float(beta2);
  a.one_minus_b2 = float(1.0 - beta2);
  a.step_size = float(lr / bc1);
  a.inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  a.eps = float(eps);
  a.decay_keep = float(1.0 - lr * weight_decay);
  return a;
}

namespace {

int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }

// SmemCursor: hands out 128-byte-aligned regions of dynamic shared memory.
struct SmemCursor {
  int64_t bytes = 0;
  int64_t Take(int64_t n) {
    const int64_t off = bytes;
    bytes += RoundUp(n, 128);
    return off;
  }
};

// AttentionCommon: the fields every attention plan shares. `score_cols` is
// the width of the score tile (keys for forward/dQ, queries for dK/dV).
bool AttentionCommon(int64_t B, int64_t T, int64_t H, int64_t Dk, int64_t Dv,
                     int rows_q, int rows_k, int score_cols, AttentionPlan* p) {
  if (B <= 0 || T <= 0 || H <= 0 || Dk <= 0 || Dv <= 0 ||
      Dk > kAttnMaxHeadDim || Dv > kAttnMaxHeadDim) {
    return false;
  }
  p->rows_q = rows_q;
  p->rows_k = rows_k;
  p->dk_pad = int(RoundUp(Dk, 16));
  p->dv_pad = int(RoundUp(Dv, 16));
  p->ld_qk = p->dk_pad + 8;
  p->ld_v = p->dv_pad + 8;
  p->ld_s = score_cols + 4;
  p->ld_p = score_cols + 8;
  p->ld_acc_k = p->dk_pad + 4;
  p->ld_acc_v = p->dv_pad + 4;
  return true;
}

void AttentionGrid(int64_t B, int64_t T, int64_t H, int own_rows,
                   int64_t smem, AttentionPlan* p) {
  p->tiles = CeilDiv(T, own_rows);
  const int64_t grid = p->tiles * B * H;
  if (grid > kMaxGridX) return;  // shape stays !ok()
  p->shape.grid_x = grid;
  p->shape.block = kAttnThreads;
  p->shape.smem_bytes = smem;
}

}  // namespace

AttentionPlan AttentionForwardPlan(int64_t B, int64_t T, int64_t H, int64_t Dk,
                                   int64_t Dv) {
  AttentionPlan p;
  if (!AttentionCommon(B, T, H, Dk, Dv, 64, 64, 64, &p)) return p;
  SmemCursor c;
  p.off_q = c.Take(int64_t(p.rows_q) * p.ld_qk * 2);
  p.off_k = c.Take(int64_t(p.rows_k) * p.ld_qk * 2);
  p.off_v = c.Take(int64_t(p.rows_k) * p.ld_v * 2);
  p.off_s = c.Take(int64_t(p.rows_q) * p.ld_s * 4);
  p.off_p = c.Take(int64_t(p.rows_q) * p.ld_p * 2);
  p.off_acc_v = c.Take(int64_t(p.rows_q) * p.ld_acc_v * 4);
  p.off_rows = c.Take(int64_t(p.rows_q) * 2 * 4);  // running max m, sum l
  AttentionGrid(B, T, H, p.rows_q, c.bytes, &p);
  return p;
}

AttentionPlan AttentionBackwardKvPlan(int64_t B, int64_t T, int64_t H,
                                      int64_t Dk, int64_t Dv) {
  AttentionPlan p;
  if (!AttentionCommon(B, T, H, Dk, Dv, 64, 32, 64, &p)) return p;
  SmemCursor c;
  p.off_k = c.Take(int64_t(p.rows_k) * p.ld_qk * 2);
  p.off_v = c.Take(int64_t(p.rows_k) * p.ld_v * 2);
  p.off_q = c.Take(int64_t(p.rows_q) * p.ld_qk * 2);
  p.off_dout = c.Take(int64_t(p.rows_q) * p.ld_v * 2);
  // Score tiles are transposed here: [rows_k keys][rows_q queries].
  p.off_s = c.Take(int64_t(p.rows_k) * p.ld_s * 4);
  p.off_dp = c.Take(int64_t(p.rows_k) * p.ld_s * 4);
  p.off_p = c.Take(int64_t(p.rows_k) * p.ld_p * 2);
  p.off_ds = c.Take(int64_t(p.rows_k) * p.ld_p * 2);
  p.off_acc_k = c.Take(int64_t(p.rows_k) * p.ld_acc_k * 4);
  p.off_acc_v = c.Take(int64_t(p.rows_k) * p.ld_acc_v * 4);
  p.off_rows = c.Take(int64_t(p.rows_q) * 2 * 4);  // lse, D of the query tile
  AttentionGrid(B, T, H, p.rows_k, c.bytes, &p);
  return p;
}

AttentionPlan AttentionBackwardQPlan(int64_t B, int64_t T, int64_t H,
                                     int64_t Dk, int64_t Dv) {
  AttentionPlan p;
  if (!AttentionCommon(B, T, H, Dk, Dv, 64, 32, 32, &p)) return p;
  SmemCursor c;
  p.off_q = c.Take(int64_t(p.rows_q) * p.ld_qk * 2);
  p.off_dout = c.Take(int64_t(p.rows_q) * p.ld_v * 2);
  p.off_k = c.Take(int64_t(p.rows_k) * p.ld_qk * 2);
  p.off_v = c.Take(int64_t(p.rows_k) * p.ld_v * 2);
  p.off_s = c.Take(int64_t(p.rows_q) * p.ld_s * 4);
  p.off_dp = c.Take(int64_t(p.rows_q) * p.ld_s * 4);
  p.off_ds = c.Take(int64_t(p.rows_q) * p.ld_p * 2);
  p.off_acc_k = c.Take(int64_t(p.rows_q) * p.ld_acc_k * 4);
  p.off_rows = c.Take(int64_t(p.rows_q) * 2 * 4);  // lse, D
  AttentionGrid(B, T, H, p.rows_q, c.bytes, &p);
  return p;
}

LaunchShape AttentionRowDotShape(int64_t B, int64_t T, int64_t H) {
  LaunchShape s;
  if (B <= 0 || T <= 0 || H <= 0) return s;
  s.block = 256;
  s.grid_x = CeilDiv(B * T * H, 8);
  if (s.grid_x > kMaxGridX) s.block = 0;
  return s;
}

LaunchShape MoeRouterShape(int64_t N, int64_t E, int64_t n_group) {
  LaunchShape s;
  if (N <= 0 || E <= 0 || E > kMoeMaxExperts || n_group < 0 || n_group > E) {
    return s;
  }
  s.block = kMoeWarps * 32;
  s.grid_x = CeilDiv(N, kMoeWarps);
  s.smem_bytes = int64_t(kMoeWarps) * (E + n_group) * 4;
  return s;
}

int64_t MoePermuteChunks(int64_t slots) { return CeilDiv(slots, kPermuteChunk); }

LaunchShape MoePermuteCountShape(int64_t slots, int64_t E) {
  LaunchShape s;
  if (slots <= 0 || E <= 0 || E > kMoeMaxExperts) return s;
  s.block = 4 * 32;
  s.grid_x = CeilDiv(MoePermuteChunks(slots), 4);
  s.smem_bytes = 4 * E * 4;
  s.scratch_elems = MoePermuteChunks(slots) * E;
  return s;
}

LaunchShape MoeRowShape(int64_t rows, int64_t C) {
  LaunchShape s;
  if (rows <= 0 || C <= 0 || rows > kMaxGridX) return s;
  s.grid_x = rows;
  // ~8 channels per thread (one 16-byte vector of bf16).
  s.block = std::min(RowBlockSize(C, 8), 512);
  return s;
}

}  // namespace hs::kernels::cuda
