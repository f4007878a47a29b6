// File: models/kernels/cuda/launch.h
//
// Launch shapes (grid, block, shared memory, scratch) of the CUDA kernels,
// as plain host functions: no CUDA headers, so they are unit-tested in the
// default CPU build (launch_test.cc) and the .cu launchers only read them.
// Every shape depends on the problem size alone, never on the GPU model,
// so reductions that go through per-block partials (RMSNorm dweight, the
// gradient norm) give the same bits on an A100 and an H100.
//
// Legend: N = rows (tokens), C = channels, I = SwiGLU width, V = vocab,
// B/T/H/D = batch, sequence, heads, rope dim.
//
// Usage (inside a launcher):
//   LaunchShape s = RmsNormForwardShape(N, C);
//   if (!s.ok()) return cudaErrorInvalidValue;
//   kernel<<<dim3(s.grid_x, s.grid_y), s.block, s.smem_bytes, stream>>>(...);
#ifndef MODELS_KERNELS_CUDA_LAUNCH_H_
#define MODELS_KERNELS_CUDA_LAUNCH_H_

#include <cstdint>

namespace hs::kernels::cuda {

// bf16 tensors cross the launcher interface as raw bits (the layout of
// hs::bf16 and CUDA's __nv_bfloat16), so host code needs no cuda_bf16.h.
using bf16_bits = uint16_t;

// Hardware limits every shape respects (sm_80 and sm_90 share them).
inline constexpr int64_t kMaxGridX = 2147483647;
inline constexpr int64_t kMaxGridY = 65535;
inline constexpr int kMaxBlock = 1024;
inline constexpr int64_t kDefaultSmemBytes = 48 * 1024;  // without opt-in

// LaunchShape: grid (x, y), threads per block, dynamic shared memory and
// the fp32/fp64 scratch elements the launch needs (0 when none).
// `block == 0` marks an unsupported size.
struct LaunchShape {
  int64_t grid_x = 0;
  int64_t grid_y = 1;
  int block = 0;
  int64_t smem_bytes = 0;
  int64_t scratch_elems = 0;
  bool ok() const { return block > 0 && grid_x > 0; }
};

// RowBlockSize(width, per_thread): threads for a block that sweeps a row of
// `width` elements, ~`per_thread` each: a multiple of 32 in [32, 1024].
int RowBlockSize(int64_t width, int per_thread);

// --- RMSNorm (fused residual add) -----------------------------------------
// Forward: one block per row; grid_x = N.
LaunchShape RmsNormForwardShape(int64_t N, int64_t C);
// Backward: grid_x = min(N, kRmsNormBackwardMaxBlocks) blocks, each taking
// rows b, b + grid, ...; each block keeps its dweight partial for all C
// channels in shared memory (smem_bytes = 4*C, so C <= 12288) and writes it
// to scratch[grid_x, C] (fp32, scratch_elems). A second pass (block
// kRmsNormReduceBlock, grid ceil(C/block), see RmsNormReduceShape) adds the
// partials in block order into dweight.
inline constexpr int64_t kRmsNormBackwardMaxBlocks = 512;
inline constexpr int kRmsNormReduceBlock = 256;
LaunchShape RmsNormBackwardShape(int64_t N, int64_t C);
LaunchShape RmsNormReduceShape(int64_t C);

// --- SwiGLU / element-wise -------------------------------------------------
// Grid-stride element-wise kernels over `n` elements: 256 threads, at most
// 65536 blocks (each thread then loops).
LaunchShape ElementwiseShape(int64_t n);

// --- Embedding -------------------------------------------------------------
// Forward: ElementwiseShape(N*C). Backward: grid (ceil(C/256), P) where the
// P vocabulary partitions own the rows with token % P == y; every thread
// owns one (row, channel) column of dtable and walks the tokens in order,
// so the sums are deterministic without atomics. Tokens are staged through
// shared memory in tiles of kEmbeddingTokenTile.
inline constexpr int kEmbeddingTokenTile = 1024;
LaunchShape EmbeddingBackwardShape(int64_t N, int64_t C, int64_t V);

// --- RoPE ------------------------------------------------------------------
// One thread per rotation pair; a block holds whole D-vectors
// (vectors_per_block = max(1, 256 / (D/2))), so in-place rotation can
// read the full vector before any thread writes. D even, D/2 <= 1024.
LaunchShape RopeShape(int64_t B, int64_t T, int64_t H, int64_t D);
int RopeVectorsPerBlock(int64_t D);

// --- Cross-entropy ---------------------------------------------------------
// One block per row, looping over the vocabulary in chunks of block*4.
LaunchShape CrossEntropyShape(int64_t N, int64_t V);

// --- AdamW and gradient norm ------------------------------------------------
// AdamW: ElementwiseShape(n). Sum of squares: grid_x = min(ceil(n/1024),
// kSumSquaresMaxBlocks) blocks of 256 write fp64 partials (scratch_elems =
// grid_x); one block of 256 adds them in a fixed tree order.
inline constexpr int64_t kSumSquaresMaxBlocks = 1024;
LaunchShape SumSquaresShape(int64_t n);

// AdamWScalars: the per-step constants, computed on the host in double and
// rounded once to fp32 exactly as optim/adamw.cc does, so the device update
// is the same arithmetic as the CPU reference.
struct AdamWScalars {
  float b1, one_minus_b1, b2, one_minus_b2;
  float step_size;      // lr / (1 - b1^t)
  float inv_sqrt_bc2;   // 1 / sqrt(1 - b2^t)
  float eps;
  float decay_keep;     // 1 - lr * weight_decay
};
// MakeAdamWScalars(lr, weight_decay, beta1, beta2, eps, t): t >= 1.
AdamWScalars MakeAdamWScalars(double lr, double weight_decay, double beta1,
                              double beta2, double eps, int64_t t);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_LAUNCH_H_
