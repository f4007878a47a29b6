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

}  // namespace hs::kernels::cuda
