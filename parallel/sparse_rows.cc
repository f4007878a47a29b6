// File: parallel/sparse_rows.cc — see sparse_rows.h.
#include "parallel/sparse_rows.h"

#include <cstring>

#include "hfreduce/reduce_kernels.h"

namespace hs::parallel {

void MarkNonzeroRows(const float* m, int64_t rows, int64_t cols, float* mask) {
  for (int64_t r = 0; r < rows; ++r) {
    mask[r] = hfreduce::AnyNonzeroF32(m + r * cols, cols) ? 1.0f : 0.0f;
  }
}

std::vector<int64_t> RowsWithCount(const float* counts, int64_t rows) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < rows; ++r)
    if (counts[r] > 0) out.push_back(r);
  return out;
}

void PackRows(const float* m, int64_t cols, const std::vector<int64_t>& rows, float* packed) {
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(packed + int64_t(i) * cols, m + rows[i] * cols, cols * sizeof(float));
  }
}

void UnpackRows(const float* packed, int64_t cols, const std::vector<int64_t>& rows, float* m) {
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(m + rows[i] * cols, packed + int64_t(i) * cols, cols * sizeof(float));
  }
}

}  // namespace hs::parallel
