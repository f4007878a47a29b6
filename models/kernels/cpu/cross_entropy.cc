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
//   sum[n] = sum_v exp(x[n,v] - max_v x[n,v]);  lse[n] = max + log(sum)
// The gradient is scale * exp(x - max) * (1/sum) (1/sum rounded to float
// once, SoftmaxRowStats), minus scale at the target: the backward
// re-derives it from the saved stats, so no N x V probability buffer
// exists, and may overwrite the logits in place. CrossEntropyForwardBackward
// does both in one pass over each row while it sits in L1, storing
// exp(x - max) as it sums it and scaling it in place: the same operations,
// so the same bits, with one exp per logit and one trip through memory
// instead of two of each.
//
// Usage:
//   int64_t valid = CrossEntropyForward(losses, stats, logits, targets, N, V);
//   CrossEntropyBackward(logits, logits, stats, targets, N, V, 1.0f / valid);
//   // or both at once, the gradient in place of the logits:
//   CrossEntropyForwardBackward(losses, logits, targets, N, V, scale);
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
  /* double lanes (see the banner). With `exps`, exps[j] = the exp. */       \
  ATTR double SumExp##SUFFIX(const float* x, int64_t n, float shift,          \
                             float* exps) {                                   \
    double lane[kSumLanes] = {};                                              \
    int64_t j = 0;                                                            \
    for (; j + kSumBlock <= n; j += kSumBlock) {                              \
      float part[kSumLanes] = {};                                             \
      for (int64_t b = 0; b < kSumBlock; b += kSumLanes) {                    \
        for (int64_t l = 0; l < kSumLanes; ++l) {                             \
          const float p = internal::Exp(x[j + b + l] - shift);                \
          if (exps) exps[j + b + l] = p;                                      \
          part[l] += p;                                                       \
        }                                                                     \
      }                                                                       \
      for (int64_t l = 0; l < kSumLanes; ++l) lane[l] += double(part[l]);     \
    }                                                                         \
    for (; j < n; ++j) {                                                      \
      const float p = internal::Exp(x[j] - shift);                            \
      if (exps) exps[j] = p;                                                  \
      lane[0] += double(p);                                                   \
    }                                                                         \
    double s = 0.0;                                                           \
    for (int64_t l = 0; l < kSumLanes; ++l) s += lane[l];                     \
    return s;                                                                 \
  }                                                                           \
  /* ScaledExpRow: dx[j] = exp(x[j] - shift) * k (dx may alias x). */        \
  ATTR void ScaledExpRow##SUFFIX(float* dx, const float* x, int64_t n,        \
                                 float shift, float k) {                      \
    for (int64_t j = 0; j < n; ++j) dx[j] = internal::Exp(x[j] - shift) * k; \
  }                                                                           \
  /* ScaleRow: x[j] *= k (x holds the exps). */                               \
  ATTR void ScaleRow##SUFFIX(float* x, int64_t n, float k) {                  \
    for (int64_t j = 0; j < n; ++j) x[j] = x[j] * k;                          \
  }

HS_CE_ROW_FUNCS(Avx2, )
HS_CE_ROW_FUNCS(Avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,prefer-vector-width=512"))))
#undef HS_CE_ROW_FUNCS

// The row sum of exp(x - shift); with `exps` (may be x), also the exps.
double SumExp(const float* x, int64_t n, float shift, float* exps = nullptr) {
  return internal::HasAvx512() ? SumExpAvx512(x, n, shift, exps)
                               : SumExpAvx2(x, n, shift, exps);
}
void ScaledExpRow(float* dx, const float* x, int64_t n, float shift, float k) {
  if (internal::HasAvx512()) {
    ScaledExpRowAvx512(dx, x, n, shift, k);
  } else {
    ScaledExpRowAvx2(dx, x, n, shift, k);
  }
}
void ScaleRow(float* x, int64_t n, float k) {
  if (internal::HasAvx512()) {
    ScaleRowAvx512(x, n, k);
  } else {
    ScaleRowAvx2(x, n, k);
  }
}

// RowStats: a row's max and 1/sum of exp(x - max); *sum_out = that sum;
// with `exps` (may be x), also the exps.
SoftmaxRowStats RowStats(const float* x, int64_t V, double* sum_out, float* exps = nullptr) {
  SoftmaxRowStats st;
  st.max = internal::RowMax(x, V);
  *sum_out = SumExp(x, V, st.max, exps);
  st.inv_sum = float(1.0 / *sum_out);
  return st;
}

float RowLse(float max, double sum) { return float(double(max) + std::log(sum)); }

}  // namespace

// CrossEntropyForward: stats for every row; loss lse - x[target] for rows
// with target >= 0, 0 for ignored rows. Returns the non-ignored count.
int64_t CrossEntropyForward(float* losses, SoftmaxRowStats* stats, const float* logits,
                            const int32_t* targets, int64_t N, int64_t V) {
  HS_CHECK(V > 0) << "empty vocabulary";
  int64_t valid = 0;
#pragma omp parallel for schedule(static) reduction(+ : valid)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    double sum;
    stats[n] = RowStats(x, V, &sum);
    const int32_t t = targets[n];
    HS_CHECK(t < V) << "target " << t << " >= vocab " << V << " at row " << n;
    if (t < 0) {
      losses[n] = 0.0f;
    } else {
      losses[n] = RowLse(stats[n].max, sum) - x[t];
      ++valid;
    }
  }
  return valid;
}

// CrossEntropyBackward: dx[n,v] = exp(x[n,v] - max) * (scale * inv_sum),
// then dx[t] -= scale. Each element is read before it is written, so
// dlogits == logits is fine.
void CrossEntropyBackward(float* dlogits, const float* logits, const SoftmaxRowStats* stats,
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
    ScaledExpRow(dx, x, V, stats[n].max, row_scale * stats[n].inv_sum);
    dx[t] = dx[t] - row_scale;  // stored first: no contraction into the product
  }
}

// CrossEntropyForwardBackward: CrossEntropyForward, then
// CrossEntropyBackward in place at `scale`, one row at a time.
int64_t CrossEntropyForwardBackward(float* losses, float* logits, const int32_t* targets,
                                    int64_t N, int64_t V, float scale) {
  HS_CHECK(V > 0) << "empty vocabulary";
  int64_t valid = 0;
#pragma omp parallel for schedule(static) reduction(+ : valid)
  for (int64_t n = 0; n < N; ++n) {
    float* x = logits + n * V;
    const int32_t t = targets[n];
    HS_CHECK(t < V) << "target " << t << " >= vocab " << V << " at row " << n;
    if (t < 0) {
      losses[n] = 0.0f;
      std::fill(x, x + V, 0.0f);
      continue;
    }
    ++valid;
    const float x_t = x[t];
    double sum;
    const SoftmaxRowStats st = RowStats(x, V, &sum, /*exps=*/x);
    losses[n] = RowLse(st.max, sum) - x_t;
    if (scale == 0.0f) {
      std::fill(x, x + V, 0.0f);
      continue;
    }
    ScaleRow(x, V, scale * st.inv_sum);  // CrossEntropyBackward's row factor
    x[t] = x[t] - scale;
  }
  return valid;
}

}  // namespace hs::kernels::cpu
