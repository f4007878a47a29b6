// File: optim/clip.cc — deterministic global-norm clipping, see clip.h.
#include "optim/clip.h"

#include <immintrin.h>

#include <cmath>
#include <vector>

namespace hs::optim {
namespace {

// ChunkSumOfSquares: one chunk in 16 double lanes (lane l takes the
// elements i = l mod 16, the tail after the last 16 goes to lane 0), the
// lanes added in order: a fixed pattern, so still one fixed order. Sixteen
// lanes are four independent 4-wide FMA chains; with four scalar chains
// the loop was bound by the add latency (one element per cycle).
double ChunkSumOfSquares(const float* g, int64_t n) {
  double lane[16] = {};
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                    _mm256_setzero_pd()};
  for (; i + 16 <= n; i += 16) {
    for (int v = 0; v < 4; ++v) {
      const __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(g + i + 4 * v));
      acc[v] = _mm256_fmadd_pd(x, x, acc[v]);
    }
  }
  for (int v = 0; v < 4; ++v) _mm256_storeu_pd(lane + 4 * v, acc[v]);
#else
  for (; i + 16 <= n; i += 16) {
    for (int l = 0; l < 16; ++l) {
      const double x = g[i + l];
      lane[l] = std::fma(x, x, lane[l]);
    }
  }
#endif
  for (; i < n; ++i) {
    const double x = g[i];
    lane[0] = std::fma(x, x, lane[0]);
  }
  double total = 0.0;
  for (double l : lane) total += l;
  return total;
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
