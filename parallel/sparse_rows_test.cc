// File: parallel/sparse_rows_test.cc
#include "parallel/sparse_rows.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace hs::parallel {
namespace {

TEST(SparseRows, MarksRowsWithAnyNonzero) {
  // 5 rows of 130 columns (two full blocks of 64 and a tail): one value per
  // marked row, placed in the first block, the second block and the tail.
  const int64_t rows = 5, cols = 130;
  std::vector<float> m(rows * cols, 0.0f);
  m[1 * cols + 3] = 1e-30f;      // tiny but nonzero
  m[2 * cols + 100] = -2.0f;     // second block
  m[4 * cols + 129] = 0.5f;      // tail
  m[3 * cols + 7] = -0.0f;       // negative zero is zero
  std::vector<float> mask(rows, -1.0f);
  MarkNonzeroRows(m.data(), rows, cols, mask.data());
  EXPECT_EQ(mask, (std::vector<float>{0, 1, 1, 0, 1}));
}

TEST(SparseRows, NanAndInfinityAreNonzero) {
  std::vector<float> m(2 * 3, 0.0f);
  m[1] = std::numeric_limits<float>::quiet_NaN();
  m[5] = -std::numeric_limits<float>::infinity();
  std::vector<float> mask(2);
  MarkNonzeroRows(m.data(), 2, 3, mask.data());
  EXPECT_EQ(mask, (std::vector<float>{1, 1}));
}

TEST(SparseRows, PackUnpackRoundTrip) {
  const int64_t rows = 6, cols = 3;
  std::vector<float> m(rows * cols);
  for (size_t i = 0; i < m.size(); ++i) m[i] = float(i);
  std::vector<float> counts = {0, 2, 0, 1, 0, 3};
  const std::vector<int64_t> sel = RowsWithCount(counts.data(), rows);
  ASSERT_EQ(sel, (std::vector<int64_t>{1, 3, 5}));
  std::vector<float> packed(sel.size() * cols);
  PackRows(m.data(), cols, sel, packed.data());
  EXPECT_EQ(packed, (std::vector<float>{3, 4, 5, 9, 10, 11, 15, 16, 17}));
  for (float& v : packed) v *= 10;
  UnpackRows(packed.data(), cols, sel, m.data());
  EXPECT_EQ(m[3], 30);
  EXPECT_EQ(m[17], 170);
  EXPECT_EQ(m[0], 0);   // rows not selected are untouched
  EXPECT_EQ(m[7], 7);
}

}  // namespace
}  // namespace hs::parallel
