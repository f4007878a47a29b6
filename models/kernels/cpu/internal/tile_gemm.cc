// File: models/kernels/cpu/internal/tile_gemm.cc — see tile_gemm.h.
#include "models/kernels/cpu/internal/tile_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>

#include "models/kernels/cpu/internal/cpu_features.h"

namespace hs::kernels::cpu::internal {
namespace {

#define HS_AVX512 __attribute__((target("avx512f")))

// Mask of the first `count` (1..16) lanes.
inline __mmask16 FirstLanes(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1u);
}

// Block<R, V>: the output rows [0, R) x columns [0, 16 V), the last vector
// holding the lanes of `last`; op(A)[r, k] = a[r * a_row + k * a_col].
// R x V accumulators stay in registers over the whole k loop (R V <= 24).
template <int R, int V>
HS_AVX512 inline void Block(int64_t K, const float* a, int64_t a_row, int64_t a_col,
                            const float* b, int64_t ldb, __mmask16 last, float alpha,
                            bool accumulate, float* c, int64_t ldc) {
  __m512 acc[R][V];
#pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 24
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = b + k * ldb;
    __m512 bv[V];
#pragma GCC unroll 24
    for (int v = 0; v < V - 1; ++v) bv[v] = _mm512_loadu_ps(bk + 16 * v);
    bv[V - 1] = _mm512_maskz_loadu_ps(last, bk + 16 * (V - 1));
    const float* ak = a + k * a_col;
#pragma GCC unroll 24
    for (int r = 0; r < R; ++r) {
      const __m512 ar = _mm512_set1_ps(ak[r * a_row]);
#pragma GCC unroll 24
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
#pragma GCC unroll 24
    for (int v = 0; v < V; ++v) {
      const __mmask16 mask = v == V - 1 ? last : __mmask16(0xFFFF);
      __m512 x = _mm512_mul_ps(acc[r][v], va);
      if (accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, cr + 16 * v));
      _mm512_mask_storeu_ps(cr + 16 * v, mask, x);
    }
  }
}

// Rows per block for V vectors per row: R x V accumulators plus V rows of
// B and a broadcast fit the 32 vector registers.
template <int V>
constexpr int kRows = V == 4 ? 6 : 8;

// The arguments every block of one product shares.
struct Operands {
  const float* a;
  int64_t a_row, a_col;
  const float* b;
  int64_t ldb;
  float alpha;
  bool accumulate;
  float* c;
  int64_t ldc;
};

// LimitedBlock<R, V>: output rows [i, i + R) of the panel of `width` (up to
// 16 V) columns starting at column col0, with the causal limit applied:
// kColumns narrows the block to the columns some of its rows need (none:
// nothing written), kDepth stops its k loop where its last row's terms end.
template <int R, int V>
HS_AVX512 void LimitedBlock(int64_t i, int64_t col0, int64_t width, int64_t K, const Operands& o,
                            const CausalLimit& limit) {
  const int64_t end = i + R + limit.diagonal;  // the block's rows need indices < end
  int64_t w = width, k = K;
  if (limit.kind == CausalLimit::kColumns) {
    w = std::min(width, end - col0);
    if (w <= 0) return;
  } else if (limit.kind == CausalLimit::kDepth) {
    k = std::clamp<int64_t>(end, 0, K);
  }
  const __mmask16 last = FirstLanes(w - (w - 1) / 16 * 16);
  const float* a = o.a + i * o.a_row;
  const float* b = o.b + col0;
  float* c = o.c + i * o.ldc + col0;
  switch (std::min<int64_t>((w + 15) / 16, V)) {
    case 1:
      Block<R, 1>(k, a, o.a_row, o.a_col, b, o.ldb, last, o.alpha, o.accumulate, c, o.ldc);
      break;
    case 2:
      Block<R, (V >= 2 ? 2 : V)>(k, a, o.a_row, o.a_col, b, o.ldb, last, o.alpha, o.accumulate, c,
                                 o.ldc);
      break;
    case 3:
      Block<R, (V >= 3 ? 3 : V)>(k, a, o.a_row, o.a_col, b, o.ldb, last, o.alpha, o.accumulate, c,
                                 o.ldc);
      break;
    default:
      Block<R, V>(k, a, o.a_row, o.a_col, b, o.ldb, last, o.alpha, o.accumulate, c, o.ldc);
      break;
  }
}

// Panel<V>: all M rows of the panel of `width` (up to 16 V) columns at col0.
template <int V>
HS_AVX512 void Panel(int64_t M, int64_t col0, int64_t width, int64_t K, const Operands& o,
                     const CausalLimit& limit) {
  constexpr int R = kRows<V>;
  int64_t i = 0;
  for (; i + R <= M; i += R) LimitedBlock<R, V>(i, col0, width, K, o, limit);
  for (; i + 4 <= M; i += 4) LimitedBlock<4, V>(i, col0, width, K, o, limit);
  for (; i < M; ++i) LimitedBlock<1, V>(i, col0, width, K, o, limit);
}

// Product: C = alpha * op(A) B (+ C), in panels of 64 columns.
void Product(int64_t M, int64_t N, int64_t K, const Operands& o, const CausalLimit& limit) {
  for (int64_t j = 0; j < N; j += 64) {
    const int64_t width = std::min<int64_t>(64, N - j);
    switch ((width + 15) / 16) {
      case 1:
        Panel<1>(M, j, width, K, o, limit);
        break;
      case 2:
        Panel<2>(M, j, width, K, o, limit);
        break;
      case 3:
        Panel<3>(M, j, width, K, o, limit);
        break;
      default:
        Panel<4>(M, j, width, K, o, limit);
        break;
    }
  }
}

// Transpose16: out[c] = column c of the 16 x 16 block whose rows are r.
// Pairs of rows interleave (unpack), then quadruples (shuffle within the
// 128-bit lanes), then the 128-bit lanes move into place (two rounds of
// shuffle_f32x4).
HS_AVX512 inline void Transpose16(__m512 (&r)[16], __m512 (&out)[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // a0 b0 a1 b1 per lane
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3
  }
  for (int i = 0; i < 4; ++i) {  // rows 4i..4i+3: u[4i + j] lane L = column 4L + j
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 even_a = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);   // lanes 0, 2
    const __m512 even_b = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 odd_a = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);    // lanes 1, 3
    const __m512 odd_b = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    out[j] = _mm512_shuffle_f32x4(even_a, even_b, 0x88);
    out[8 + j] = _mm512_shuffle_f32x4(even_a, even_b, 0xDD);
    out[4 + j] = _mm512_shuffle_f32x4(odd_a, odd_b, 0x88);
    out[12 + j] = _mm512_shuffle_f32x4(odd_a, odd_b, 0xDD);
  }
}

HS_AVX512 void TransposeTileAvx512(float* dst, int64_t ld_dst, const float* src, int64_t ld_src,
                                   int64_t n, int64_t K) {
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int64_t rows = std::min<int64_t>(16, n - j0);
    const __mmask16 row_mask = FirstLanes(rows);
    for (int64_t k0 = 0; k0 < K; k0 += 16) {
      const int64_t cols = std::min<int64_t>(16, K - k0);
      const __mmask16 col_mask = FirstLanes(cols);
      __m512 r[16], out[16];
      for (int64_t i = 0; i < 16; ++i) {
        r[i] = i < rows ? _mm512_maskz_loadu_ps(col_mask, src + (j0 + i) * ld_src + k0)
                        : _mm512_setzero_ps();
      }
      Transpose16(r, out);
      for (int64_t c = 0; c < cols; ++c) {
        _mm512_mask_storeu_ps(dst + (k0 + c) * ld_dst + j0, row_mask, out[c]);
      }
    }
  }
}

}  // namespace

namespace {
std::atomic<bool> g_disabled_for_testing{false};
}  // namespace

bool TileGemmAvailable() {
  return HasAvx512() && !g_disabled_for_testing.load(std::memory_order_relaxed);
}

void SetTileGemmDisabledForTesting(bool disabled) { g_disabled_for_testing = disabled; }

void TileGemmNN(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, bool accumulate, float* C, int64_t ldc,
                const CausalLimit& limit) {
  Product(M, N, K, {A, /*a_row=*/lda, /*a_col=*/1, B, ldb, alpha, accumulate, C, ldc}, limit);
}

void TileGemmTN(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, bool accumulate, float* C, int64_t ldc) {
  Product(M, N, K, {A, /*a_row=*/1, /*a_col=*/lda, B, ldb, alpha, accumulate, C, ldc}, {});
}

void TransposeTile(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t n,
                   int64_t K) {
  TransposeTileAvx512(dst, ld_dst, src, ld_src, n, K);
}

#undef HS_AVX512

}  // namespace hs::kernels::cpu::internal
