// File: models/kernels/cpu/internal/tile_gemm.h
//
// Register-blocked fp32 products for the attention tiles (64-256 rows,
// 32-256 columns, K = 32-256), where a BLAS call spends much of its time
// packing and dispatching: through OpenBLAS these run at 70-90 GFLOP/s on
// two cores whose large GEMMs reach 150-190. The operands here already sit
// in L1/L2, so each kernel reads them in place: the output is cut into
// blocks of R rows x up to 64 columns (R x V AVX-512 accumulators), and
// for every k one row of B is loaded and each of the R entries of A's
// column is broadcast into V fused multiply-adds. Every output element is
// one FMA chain over k in increasing order, so a product gives the same
// bits for any thread count and any call order. A^T B reads A by columns,
// which is only a different stride; A B^T (both operands row-major in K)
// transposes B into a buffer first with 16 x 16 in-register transposes.
//
// AVX-512 only: Available() says whether this CPU runs them; callers use
// the BLAS GEMM otherwise.
//
// Usage:
//   if (internal::TileGemmAvailable()) {
//     internal::TransposeTile(kt, ld_kt, k, ld_k, nk, Dk);       // K^T
//     internal::TileGemmNN(nq, nk, Dk, scale, q, ld_q, kt, ld_kt,
//                          /*accumulate=*/false, S, ld_s);       // scale Q K^T
//   }
#ifndef MODELS_KERNELS_CPU_INTERNAL_TILE_GEMM_H_
#define MODELS_KERNELS_CPU_INTERNAL_TILE_GEMM_H_

#include <cstdint>

namespace hs::kernels::cpu::internal {

// TileGemmAvailable: true when the CPU has AVX-512 (HasAvx512; the kernels below
// must not be called otherwise) and tests have not turned them off.
bool TileGemmAvailable();

// SetTileGemmDisabledForTesting(disabled): while set, TileGemmAvailable()
// is false, so tests on an AVX-512 machine also cover the BLAS path that
// callers take without it.
void SetTileGemmDisabledForTesting(bool disabled);

// CausalLimit: what a causal mask lets a product skip. Row i of C needs
// only indices < i + 1 + diagonal: of its columns (kColumns; the others are
// masked by the caller, and a block of rows none of whose rows needs a
// column leaves it unwritten) or of the inner dimension (kDepth; A's terms
// there are exact zeros, e.g. probabilities of masked keys, so skipping
// them gives the same sums). Blocks of rows share their last row's limit.
struct CausalLimit {
  enum Kind { kNone, kColumns, kDepth };
  Kind kind = kNone;
  int64_t diagonal = 0;
};

// TileGemmNN: C[M, N] (ldc) = alpha * A[M, K] (lda) B[K, N] (ldb), added to
// C when accumulate, written over it otherwise (C is then never read);
// `limit` as above.
void TileGemmNN(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, bool accumulate, float* C, int64_t ldc,
                const CausalLimit& limit = {});

// TileGemmTN: as TileGemmNN with A^T: A is stored [K, M] (lda).
void TileGemmTN(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, bool accumulate, float* C, int64_t ldc);

// TransposeTile: dst[K, n] (ld_dst >= n) = src[n, K]^T (src rows ld_src
// apart).
void TransposeTile(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t n,
                   int64_t K);

}  // namespace hs::kernels::cpu::internal

#endif  // MODELS_KERNELS_CPU_INTERNAL_TILE_GEMM_H_
