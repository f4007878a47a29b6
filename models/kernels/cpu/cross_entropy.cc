// File: models/kernels/cpu/cross_entropy.cc
//
// Fused softmax cross-entropy (HF CrossEntropyLoss with ignore_index < 0),
// rows in parallel. The log-sum-exp is max-shifted, exp is taken in float
// (internal::Exp, vectorised) and summed in a fixed order, so the result is
// the same for any thread count: 16 float lanes (lane l takes v = l mod 16)
// over blocks of 128 values (8 terms per lane), each block's lane sums then
// added into 16 double lanes, the lanes added in order at the end (the tail
// after the last whole block goes straight into double lane 0). Eight float
// terms of at most 1 keep each partial within a few float ulps; the
// conversion to double, once per 8 vectors, no longer bounds the loop:
//   lse[n] = max_v x[n,v] + log(sum_v exp(x[n,v] - max_v x[n,v]))
// The backward re-derives softmax from the saved lse, so no N x V
// probability buffer exists, and may overwrite the logits in place.
//
// Usage:
//   int64_t valid = CrossEntropyForward(losses, lse, logits, targets, N, V);
//   CrossEntropyBackward(logits, logits, lse, targets, N, V, 1.0f / valid);
#include "models/kernels/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "haiscale/logging.h"
#include "models/kernels/cpu/internal/cpu_features.h"
#include "models/kernels/cpu/internal/exp.h"
#include "models/kernels/cpu/internal/row_max.h"

namespace hs::kernels::cpu {
namespace {

constexpr int64_t kSumLanes = 16;   // SumExp lanes
constexpr int64_t kSumBlock = 8 * kSumLanes;

// The row loops are compiled twice: for the x86-64-v3 baseline (AVX2) and
// with AVX-512 (16 floats per vector), picked at run time. Both evaluate the
// same per-element float operations and the same lanes in the same order,
// so the results are identical; only the vector width differs.
#define HS_CE_ROW_FUNCS(SUFFIX, ATTR)                                          \
  /* SumExp: sum_j exp(x[j] - shift), exp in float; float block sums, */    \
  /* double lanes (see the banner). */                                        \
  ATTR double SumExp##SUFFIX(const float* x, int64_t n, float shift) {        \
    double lane[kSumLanes] = {};                                              \
    int64_t j = 0;                                                            \
    for (; j + kSumBlock <= n; j += kSumBlock) {                              \
      float part[kSumLanes] = {};                                             \
      for (int64_t b = 0; b < kSumBlock; b += kSumLanes) {                    \
        for (int64_t l = 0; l < kSumLanes; ++l)                               \
          part[l] += internal::Exp(x[j + b + l] - shift);                     \
      }                                                                       \
      for (int64_t l = 0; l < kSumLanes; ++l) lane[l] += double(part[l]);     \
    }                                                                         \
    for (; j < n; ++j) lane[0] += double(internal::Exp(x[j] - shift));       \
    double s = 0.0;                                                           \
    for (int64_t l = 0; l < kSumLanes; ++l) s += lane[l];                     \
    return s;                                                                 \
  }                                                                           \
  /* ScaledExpRow: dx[j] = scale * exp(x[j] - lse) (dx may alias x). */      \
  ATTR void ScaledExpRow##SUFFIX(float* dx, const float* x, int64_t n,        \
                                 float lse, float scale) {                    \
    for (int64_t j = 0; j < n; ++j) dx[j] = scale * internal::Exp(x[j] - lse);\
  }

HS_CE_ROW_FUNCS(Avx2, )
HS_CE_ROW_FUNCS(Avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,prefer-vector-width=512"))))
#undef HS_CE_ROW_FUNCS

double SumExp(const float* x, int64_t n, float shift) {
  return internal::HasAvx512() ? SumExpAvx512(x, n, shift) : SumExpAvx2(x, n, shift);
}
void ScaledExpRow(float* dx, const float* x, int64_t n, float lse, float scale) {
  if (internal::HasAvx512()) {
    ScaledExpRowAvx512(dx, x, n, lse, scale);
  } else {
    ScaledExpRowAvx2(dx, x, n, lse, scale);
  }
}

}  // namespace

// CrossEntropyForward: lse for every row; loss lse - x[target] for rows
// with target >= 0, 0 for ignored rows. Returns the non-ignored count.
int64_t CrossEntropyForward(float* losses, float* lse, const float* logits,
                            const int32_t* targets, int64_t N, int64_t V) {
  HS_CHECK(V > 0) << "empty vocabulary";
  int64_t valid = 0;
#pragma omp parallel for schedule(static) reduction(+ : valid)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    const float mx = internal::RowMax(x, V);
    const float row_lse = float(double(mx) + std::log(SumExp(x, V, mx)));
    lse[n] = row_lse;
    const int32_t t = targets[n];
    HS_CHECK(t < V) << "target " << t << " >= vocab " << V << " at row " << n;
    if (t < 0) {
      losses[n] = 0.0f;
    } else {
      losses[n] = row_lse - x[t];
      ++valid;
    }
  }
  return valid;
}

// CrossEntropyBackward: dx[n,v] = scale * (exp(x[n,v] - lse[n]) - [v == t_n]).
// Each element is read before it is written, so dlogits == logits is fine.
void CrossEntropyBackward(float* dlogits, const float* logits, const float* lse,
                          const int32_t* targets, int64_t N, int64_t V,
                          float scale, const float* row_weights) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    float* dx = dlogits + n * V;
    const int32_t t = targets[n];
    const float row_scale = row_weights ? scale * row_weights[n] : scale;
    if (t < 0 || row_scale == 0.0f) {
      std::fill(dx, dx + V, 0.0f);
      continue;
    }
    HS_CHECK(t < V) << "target " << t << " >= vocab " << V << " at row " << n;
    const float row_lse = lse[n];
    // p_target before x[t] is (possibly) overwritten in place.
    const float p_target = internal::Exp(x[t] - row_lse);
    ScaledExpRow(dx, x, V, row_lse, row_scale);
    dx[t] = row_scale * (p_target - 1.0f);
  }
}

}  // namespace hs::kernels::cpu
