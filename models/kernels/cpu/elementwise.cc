// File: models/kernels/cpu/elementwise.cc
//
// Elementwise kernels, OpenMP over elements (or rows for the strided column
// copies). Each output element is written by one thread, so results do not
// depend on the thread count; SumSquares reduces fixed-size chunks in chunk
// order, so it does not either.
//
// Usage:
//   Axpy(param, -lr, grad, n);
//   double norm2 = SumSquares(grad, n);
#include "models/kernels/cpu/elementwise.h"

#include <algorithm>
#include <vector>

#include "haiscale/logging.h"

namespace hs::kernels::cpu {
namespace {

// Elements per SumSquares partial: fixed, so the summation tree is the same
// for every thread count.
constexpr int64_t kSumChunk = 1 << 14;

}  // namespace

// Add: out = a + b (out may alias a or b: each element is read then written).
void Add(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

// AddInPlace: y += x.
void AddInPlace(float* y, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// Axpy: y += alpha * x.
void Axpy(float* y, float alpha, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// Scale: x *= alpha.
void Scale(float* x, float alpha, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

// CopyColumns: dst[r, 0:cols] = src[r, 0:cols], rows in parallel.
void CopyColumns(float* dst, int64_t dst_stride, const float* src,
                 int64_t src_stride, int64_t rows, int64_t cols) {
  HS_CHECK(cols <= dst_stride && cols <= src_stride)
      << "cols=" << cols << " dst_stride=" << dst_stride
      << " src_stride=" << src_stride;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    // A plain loop, not std::copy: rows are often a head's 16-64 floats,
    // where a memmove call per row costs more than the copy.
    float* d = dst + r * dst_stride;
    const float* s = src + r * src_stride;
    for (int64_t c = 0; c < cols; ++c) d[c] = s[c];
  }
}

// AddColumns: dst[r, 0:cols] += src[r, 0:cols], rows in parallel.
void AddColumns(float* dst, int64_t dst_stride, const float* src,
                int64_t src_stride, int64_t rows, int64_t cols) {
  HS_CHECK(cols <= dst_stride && cols <= src_stride)
      << "cols=" << cols << " dst_stride=" << dst_stride
      << " src_stride=" << src_stride;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * dst_stride;
    const float* s = src + r * src_stride;
    for (int64_t c = 0; c < cols; ++c) d[c] += s[c];
  }
}

// BroadcastColumns: each source row into every group of its dst row.
void BroadcastColumns(float* dst, int64_t dst_stride, int64_t dst_group, int64_t groups,
                      const float* src, int64_t src_stride, int64_t rows, int64_t cols) {
  HS_CHECK(cols <= dst_group && cols <= src_stride && (groups - 1) * dst_group + cols <= dst_stride)
      << "cols=" << cols << " dst_group=" << dst_group << " groups=" << groups
      << " dst_stride=" << dst_stride << " src_stride=" << src_stride;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * src_stride;
    for (int64_t g = 0; g < groups; ++g) {
      float* d = dst + r * dst_stride + g * dst_group;
      for (int64_t c = 0; c < cols; ++c) d[c] = s[c];
    }
  }
}

// SumColumnGroups: group 0 copied, the others added in order.
void SumColumnGroups(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                     int64_t src_group, int64_t groups, int64_t rows, int64_t cols) {
  HS_CHECK(groups >= 1 && cols <= src_group && cols <= dst_stride &&
           (groups - 1) * src_group + cols <= src_stride)
      << "cols=" << cols << " src_group=" << src_group << " groups=" << groups
      << " dst_stride=" << dst_stride << " src_stride=" << src_stride;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * dst_stride;
    const float* s = src + r * src_stride;
    for (int64_t c = 0; c < cols; ++c) d[c] = s[c];
    for (int64_t g = 1; g < groups; ++g) {
      for (int64_t c = 0; c < cols; ++c) d[c] += s[g * src_group + c];
    }
  }
}

// SumSquares: sum x^2 in double. Chunk partials (in parallel) are added in
// chunk order, so the result is the same for any thread count.
double SumSquares(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(chunks);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t lo = c * kSumChunk, hi = std::min(n, lo + kSumChunk);
    double s = 0.0;
    for (int64_t i = lo; i < hi; ++i) s += double(x[i]) * double(x[i]);
    partial[c] = s;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace hs::kernels::cpu
