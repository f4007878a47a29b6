// File: models/kernels/cpu/elementwise_test.cc
//
// Elementwise kernels against plain loops, aliasing allowed by the header,
// strided column copies leaving other columns alone, and SumSquares being
// the same for every thread count.
#include "models/kernels/cpu/elementwise.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/threads.h"
#include "models/testing/grad_check.h"

namespace hs::kernels::cpu {
namespace {

using ::hs::testing::RandomVector;

TEST(ElementwiseTest, AddAxpyScale) {
  const int64_t n = 1001;
  std::vector<float> a = RandomVector(n, 1), b = RandomVector(n, 2);
  std::vector<float> out(n);
  Add(out.data(), a.data(), b.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] + b[i]);

  std::vector<float> y = a;
  Add(y.data(), y.data(), b.data(), n);  // out aliases a
  EXPECT_EQ(y, out);
  y = b;
  Add(y.data(), a.data(), y.data(), n);  // out aliases b
  EXPECT_EQ(y, out);

  y = a;
  AddInPlace(y.data(), b.data(), n);
  EXPECT_EQ(y, out);

  y = a;
  Axpy(y.data(), -0.25f, b.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], a[i] + -0.25f * b[i]);

  y = a;
  Scale(y.data(), 3.0f, n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], a[i] * 3.0f);
}

TEST(ElementwiseTest, CopyAndAddColumnsAreStrided) {
  // src [5, 7], take columns 0..2 of the window starting at column 4 into
  // dst [5, 10] at column 6.
  const int64_t rows = 5;
  std::vector<float> src = RandomVector(rows * 7, 3);
  std::vector<float> dst = RandomVector(rows * 10, 4);
  const std::vector<float> before = dst;
  CopyColumns(dst.data() + 6, 10, src.data() + 4, 7, rows, 3);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < 10; ++c) {
      const float want = (c >= 6 && c < 9) ? src[r * 7 + 4 + (c - 6)]
                                           : before[r * 10 + c];
      ASSERT_EQ(dst[r * 10 + c], want) << r << "," << c;
    }
  }
  const std::vector<float> mid = dst;
  AddColumns(dst.data() + 6, 10, src.data() + 4, 7, rows, 3);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < 10; ++c) {
      const float want = (c >= 6 && c < 9)
                             ? mid[r * 10 + c] + src[r * 7 + 4 + (c - 6)]
                             : mid[r * 10 + c];
      ASSERT_EQ(dst[r * 10 + c], want) << r << "," << c;
    }
  }
}

// MLA's k_pe: one source row into every head's slice, and back as the sum
// over heads in head order (equal, bit for bit, to copying head 0 and adding
// the others with AddColumns).
TEST(ElementwiseTest, BroadcastColumnsAndSumColumnGroups) {
  const int64_t rows = 37, groups = 5, group = 9, cols = 4, stride = groups * group + 2;
  std::vector<float> src(rows * 6), dst(rows * stride, -7.0f);
  for (size_t i = 0; i < src.size(); ++i) src[i] = 0.1f * float(i % 23) - 1.1f;
  BroadcastColumns(dst.data() + 3, stride, group, groups, src.data() + 1, 6, rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < stride; ++c) {
      const int64_t g = (c - 3) / group, in = (c - 3) % group;
      const bool written = c >= 3 && g < groups && in < cols;
      const float want = written ? src[r * 6 + 1 + in] : -7.0f;
      ASSERT_EQ(dst[r * stride + c], want) << r << "," << c;
    }
  }
  std::vector<float> grad(rows * stride);
  for (size_t i = 0; i < grad.size(); ++i) grad[i] = std::sin(0.7f * float(i));
  std::vector<float> got(rows * 6, 5.0f), want(rows * 6, 5.0f);
  SumColumnGroups(got.data() + 2, 6, grad.data() + 1, stride, group, groups, rows, cols);
  CopyColumns(want.data() + 2, 6, grad.data() + 1, stride, rows, cols);
  for (int64_t g = 1; g < groups; ++g) {
    AddColumns(want.data() + 2, 6, grad.data() + 1 + g * group, stride, rows, cols);
  }
  EXPECT_EQ(got, want);
}

TEST(ElementwiseTest, SumSquaresIsExactAndThreadCountInvariant) {
  EXPECT_EQ(SumSquares(nullptr, 0), 0.0);
  const int64_t n = 100003;  // several chunks plus a tail
  std::vector<float> x = RandomVector(n, 5, 3.0f);
  double want = 0;
  for (float v : x) want += double(v) * double(v);
  SetNumThreads(1);
  const double one = SumSquares(x.data(), n);
  SetNumThreads(3);
  const double three = SumSquares(x.data(), n);
  SetNumThreads(0);
  EXPECT_NEAR(one, want, 1e-9 * want);
  EXPECT_EQ(one, three);  // bit-identical
}

}  // namespace
}  // namespace hs::kernels::cpu
