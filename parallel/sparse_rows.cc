// File: parallel/sparse_rows.cc — see sparse_rows.h.
#include "parallel/sparse_rows.h"

#include <bit>
#include <cstring>

namespace hs::parallel {

namespace {

// Whether any of `n` floats is nonzero: the bits without the sign bit are
// ORed over blocks (vectorised), stopping at the first block with one.
bool AnyNonzero(const float* x, int64_t n) {
  constexpr int64_t kBlock = 64;
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    uint32_t any = 0;
    for (int64_t j = 0; j < kBlock; ++j) any |= std::bit_cast<uint32_t>(x[i + j]) << 1;
    if (any != 0) return true;
  }
  uint32_t any = 0;
  for (; i < n; ++i) any |= std::bit_cast<uint32_t>(x[i]) << 1;
  return any != 0;
}

}  // namespace

void MarkNonzeroRows(const float* m, int64_t rows, int64_t cols, float* mask) {
  for (int64_t r = 0; r < rows; ++r) mask[r] = AnyNonzero(m + r * cols, cols) ? 1.0f : 0.0f;
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
