// File: models/kernels/cpu/rms_norm.cc
//
// RMSNorm forward/backward (HF DeepseekV2RMSNorm), rows in parallel.
// Row sums of squares (and the backward's row dot products) are accumulated
// in double in 8 fixed lanes; rstd is stored as float.
// dweight sums over rows: rows are cut into fixed chunks of kRowChunk, each
// chunk's partial is computed in parallel, and the partials are added in
// chunk order, so dweight does not depend on the thread count.
//
// Usage:
//   RmsNormForward(out, rstd, x, w, N, C, 1e-6f);
//   RmsNormBackward(dx, dw, dout, x, w, rstd, N, C);
#include "models/kernels/cpu/rms_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace hs::kernels::cpu {
namespace {

// Rows per dweight partial (fixed: determinism across thread counts).
constexpr int64_t kRowChunk = 32;
constexpr int64_t kLanes = 8;

// LaneDot: sum_c a[c] * b[c] in double, in kLanes fixed lanes (lane l takes
// c = l mod kLanes, the tail goes to lane 0, lanes added in order): the
// same value for any thread count, and a loop that vectorises instead of
// one chain of dependent double adds.
inline double LaneDot(const float* a, const float* b, int64_t n) {
  double lane[kLanes] = {};
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lane[l] += double(a[c + l]) * double(b[c + l]);
  }
  for (; c < n; ++c) lane[0] += double(a[c]) * double(b[c]);
  double s = 0.0;
  for (int64_t l = 0; l < kLanes; ++l) s += lane[l];
  return s;
}

}  // namespace

// RmsNormForward: rstd[n] = 1/sqrt(mean(x^2) + eps); out = w * (x * rstd).
void RmsNormForward(float* out, float* rstd, const float* inp,
                    const float* weight, int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    float* o = out + n * C;
    const double ss = LaneDot(x, x, C);
    const float r = float(1.0 / std::sqrt(ss / double(C) + double(eps)));
    rstd[n] = r;
    for (int64_t c = 0; c < C; ++c) o[c] = weight[c] * (x[c] * r);
  }
}

// RmsNormBackward, per row n (xhat = x * rstd, g = dout * w):
//   term 1: dinp += rstd * g                      (through x directly)
//   term 2: dinp -= rstd * xhat * mean_c(g * xhat) (through rstd)
//   dweight += dout * xhat, summed over rows in fixed chunks.
void RmsNormBackward(float* dinp, float* dweight, const float* dout,
                     const float* inp, const float* weight, const float* rstd,
                     int64_t N, int64_t C, const float* dinp_base) {
  if (N <= 0) return;
  const int64_t chunks = (N + kRowChunk - 1) / kRowChunk;
  std::vector<float> partial(chunks * C, 0.0f);  // [chunks, C]
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    float* pw = partial.data() + k * C;
    const int64_t hi = std::min(N, (k + 1) * kRowChunk);
    for (int64_t n = k * kRowChunk; n < hi; ++n) {
      const float* x = inp + n * C;
      const float* d = dout + n * C;
      float* dx = dinp + n * C;
      const float* base = dinp_base ? dinp_base + n * C : dx;
      const float r = rstd[n];
      // sum_c g * xhat, g = d * weight, xhat = x * r (as floats, then
      // multiplied in double), in fixed lanes.
      double lane[kLanes] = {};
      int64_t c0 = 0;
      for (; c0 + kLanes <= C; c0 += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) {
          const int64_t c = c0 + l;
          lane[l] += double(d[c] * weight[c]) * double(x[c] * r);
        }
      }
      for (; c0 < C; ++c0) lane[0] += double(d[c0] * weight[c0]) * double(x[c0] * r);
      double dot = 0.0;
      for (int64_t l = 0; l < kLanes; ++l) dot += lane[l];
      const float mean_gx = float(dot / double(C));
      for (int64_t c = 0; c < C; ++c) {
        const float xhat = x[c] * r;
        dx[c] = base[c] + r * (d[c] * weight[c] - xhat * mean_gx);
        pw[c] += d[c] * xhat;
      }
    }
  }
  // Reduce the chunk partials in chunk order, columns in parallel.
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    float s = 0.0f;
    for (int64_t k = 0; k < chunks; ++k) s += partial[k * C + c];
    dweight[c] += s;
  }
}

}  // namespace hs::kernels::cpu
