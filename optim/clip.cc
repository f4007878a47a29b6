// File: optim/clip.cc — deterministic global-norm clipping, see clip.h.
#include "optim/clip.h"

#include <cmath>
#include <vector>

namespace hs::optim {
namespace {

// ChunkSumOfSquares: one chunk, four interleaved double accumulators (a
// fixed pattern, so still one fixed order) combined as (a0+a1)+(a2+a3).
double ChunkSumOfSquares(const float* g, int64_t n) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    double x0 = g[i], x1 = g[i + 1], x2 = g[i + 2], x3 = g[i + 3];
    a0 += x0 * x0;
    a1 += x1 * x1;
    a2 += x2 * x2;
    a3 += x3 * x3;
  }
  for (; i < n; ++i) {
    double x = g[i];
    a0 += x * x;
  }
  return (a0 + a1) + (a2 + a3);
}

constexpr int64_t kScaleParallelMin = 1 << 15;

}  // namespace

double SumOfSquares(const float* g, int64_t n) {
  if (n <= 0) return 0.0;
  const int64_t chunks = (n + kClipChunk - 1) / kClipChunk;
  if (chunks == 1) return ChunkSumOfSquares(g, n);
  std::vector<double> partial(size_t(chunks), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t lo = c * kClipChunk;
    const int64_t len = (lo + kClipChunk <= n) ? kClipChunk : n - lo;
    partial[c] = ChunkSumOfSquares(g + lo, len);
  }
  double total = 0.0;
  for (double p : partial) total += p;  // chunk order: fixed
  return total;
}

double ClipScale(double norm, double max_norm) {
  if (!(max_norm > 0.0) || !std::isfinite(norm) || norm <= max_norm) {
    return 1.0;
  }
  return max_norm / (norm + 1e-6);
}

void ScaleGradients(float* g, int64_t n, double scale) {
  const float s = float(scale);
#pragma omp parallel for simd schedule(static) if (n >= kScaleParallelMin)
  for (int64_t i = 0; i < n; ++i) g[i] *= s;
}

ClipResult ClipGradNorm(float* g, int64_t n, double max_norm) {
  ClipResult r;
  r.norm = std::sqrt(SumOfSquares(g, n));
  r.finite = std::isfinite(r.norm);
  r.scale = ClipScale(r.norm, max_norm);
  if (r.finite && r.scale != 1.0) {
    ScaleGradients(g, n, r.scale);
    r.clipped = true;
  }
  return r;
}

}  // namespace hs::optim
