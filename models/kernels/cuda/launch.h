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
// B/T/H/D = batch, sequence, heads, rope dim; Dk/Dv = attention q/k and
// v head dims; E = routed experts, K = experts per token.
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

// --- Attention (causal flash attention, attention.cu) ----------------------
// Every attention kernel runs kAttnThreads threads (8 warps) per block and
// tiles over rows of the head dims rounded up to 16 (the WMMA tile;
// padding columns are zero). The dynamic shared memory holds bf16 tiles of
// q/k (row stride ld_qk = dk_pad + 8), v/dout (ld_v = dv_pad + 8), an fp32
// score tile and its bf16 image (ld_s = cols + 4, ld_p = cols + 8), fp32
// accumulators (ld_acc_k = dk_pad + 4, ld_acc_v = dv_pad + 4) and fp32
// per-row values; each region starts on a 128-byte boundary. An offset of
// -1 marks a region the kernel does not use. grid_x = tiles * B * H
// (flattened; tile-major so the most expensive causal tiles start first).
//   forward:    own 64 query rows, streams 64-key tiles      (q k v s p acc_v rows)
//   bwd dK/dV:  own 32 key rows, streams 64-query tiles      (k v q dout s dp p ds acc_k acc_v rows)
//   bwd dQ:     own 64 query rows, streams 32-key tiles      (q dout k v s dp ds acc_k rows)
// Supported head dims: 1 <= Dk, Dv <= kAttnMaxHeadDim; the launcher also
// checks smem_bytes against the device's opt-in limit (A100 163 KiB, H100
// 227 KiB). DeepSeek-V2 (192/128) needs 127-136 KiB and fits both.
inline constexpr int kAttnThreads = 256;
inline constexpr int kAttnMaxHeadDim = 256;
struct AttentionPlan {
  LaunchShape shape;
  int rows_q = 0, rows_k = 0;  // query / key rows of one tile
  int dk_pad = 0, dv_pad = 0;  // Dk, Dv rounded up to 16
  int ld_qk = 0, ld_v = 0, ld_s = 0, ld_p = 0, ld_acc_k = 0, ld_acc_v = 0;
  int64_t off_q = -1, off_k = -1, off_v = -1, off_dout = -1;
  int64_t off_s = -1, off_dp = -1, off_p = -1, off_ds = -1;
  int64_t off_acc_k = -1, off_acc_v = -1, off_rows = -1;
  int64_t tiles = 0;  // tiles per (b, h)
};
AttentionPlan AttentionForwardPlan(int64_t B, int64_t T, int64_t H, int64_t Dk,
                                   int64_t Dv);
AttentionPlan AttentionBackwardKvPlan(int64_t B, int64_t T, int64_t H,
                                      int64_t Dk, int64_t Dv);
AttentionPlan AttentionBackwardQPlan(int64_t B, int64_t T, int64_t H,
                                     int64_t Dk, int64_t Dv);
// D[b,h,t] = rowsum(dout * out): one warp per (b, t, h) row, 8 per block.
LaunchShape AttentionRowDotShape(int64_t B, int64_t T, int64_t H);

// --- MoE (moe.cu) -----------------------------------------------------------
// Router softmax / top-k: one warp per token, kMoeWarps warps per block;
// top-k keeps a copy of the token's E scores and its n_group group scores
// in shared memory (smem_bytes = kMoeWarps * (E + n_group) * 4).
inline constexpr int kMoeWarps = 8;
inline constexpr int64_t kMoeMaxExperts = 512;
LaunchShape MoeRouterShape(int64_t N, int64_t E, int64_t n_group);
// Permute (counting sort of the N*K slots by expert): one warp per chunk
// of kPermuteChunk consecutive slots (4 warps per block) counts its slots
// per expert and ranks each slot among the chunk's slots of its expert
// (smem: one E-int counter row per warp; scratch_elems = chunks * E ints
// for the per-chunk counts). One block of kPermuteScanThreads then turns
// the counts into expert_offsets and per-chunk bases; a row-copy pass
// moves the rows. Deterministic: a slot's row depends only on idx.
inline constexpr int kPermuteChunk = 256;
inline constexpr int kPermuteScanThreads = 512;
LaunchShape MoePermuteCountShape(int64_t slots, int64_t E);
int64_t MoePermuteChunks(int64_t slots);
// Row kernels (gather, combine, combine backward, dispatch backward): one
// block per row (slot or token), threads over the C channels.
LaunchShape MoeRowShape(int64_t rows, int64_t C);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_LAUNCH_H_
