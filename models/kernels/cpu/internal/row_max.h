// File: models/kernels/cpu/internal/row_max.h
//
// RowMax(x, n): max of x[0..n) (n >= 1), the shift of the softmax-like
// kernels (attention, cross-entropy). A max does not round, so any order
// gives the same value; written with intrinsics because GCC keeps a float
// max loop scalar unless NaNs are ruled out. A NaN in x may be skipped
// here, but it still reaches the caller's exp sum and makes its row NaN.
// RowMaxAvx2 / RowMaxAvx512 are for callers that are themselves compiled
// per instruction set.
//
// Usage:
//   const float m = internal::RowMax(row, n);
#ifndef MODELS_KERNELS_CPU_INTERNAL_ROW_MAX_H_
#define MODELS_KERNELS_CPU_INTERNAL_ROW_MAX_H_

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "models/kernels/cpu/internal/cpu_features.h"

namespace hs::kernels::cpu::internal {

inline float RowMaxAvx2(const float* x, int64_t n) {
  __m256 acc = _mm256_set1_ps(x[0]);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) acc = _mm256_max_ps(acc, _mm256_loadu_ps(x + j));
  alignas(32) float lane[8];
  _mm256_store_ps(lane, acc);
  float m = lane[0];
  for (int64_t l = 1; l < 8; ++l) m = std::max(m, lane[l]);
  for (; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

__attribute__((target("avx512f"))) inline float RowMaxAvx512(const float* x, int64_t n) {
  __m512 acc = _mm512_set1_ps(x[0]);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) acc = _mm512_max_ps(acc, _mm512_loadu_ps(x + j));
  float m = _mm512_reduce_max_ps(acc);
  for (; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

inline float RowMax(const float* x, int64_t n) {
  return HasAvx512() ? RowMaxAvx512(x, n) : RowMaxAvx2(x, n);
}

}  // namespace hs::kernels::cpu::internal

#endif  // MODELS_KERNELS_CPU_INTERNAL_ROW_MAX_H_
