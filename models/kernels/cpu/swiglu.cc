// File: models/kernels/cpu/swiglu.cc
//
// SwiGLU over a fused [gate | up] row (HF DeepseekV2MLP:
// down_proj(act_fn(gate_proj(x)) * up_proj(x)) with act_fn = SiLU), rows in
// parallel; every output element is written by one thread.
//
// The row loops are compiled twice, for the x86-64-v3 baseline (AVX2) and
// with AVX-512, picked at run time (as in cross_entropy.cc): the same float
// operations per element, so the same bits; AVX-512's masked lanes replace
// the AVX2 blends of the exp's range checks and halve the vector count
// (1.6-1.7x on the dense MLP rows of configs/bench/small, 2048 x 688).
//
// Usage:
//   SwiGluForward(h, gate_up, N, I);            // h[N,I]
//   SwiGluBackward(dgate_up, dh, gate_up, N, I);
#include "models/kernels/cpu/swiglu.h"

#include "models/kernels/cpu/internal/cpu_features.h"
#include "models/kernels/cpu/internal/exp.h"

namespace hs::kernels::cpu {
namespace {

inline float Sigmoid(float x) { return 1.0f / (1.0f + internal::Exp(-x)); }

// SwiGluForwardRow: out[i] = g * sigmoid(g) * up, g = gate[i].
// SwiGluBackwardRow, with s = sigmoid(g):
//   d silu(g)/dg = s + g*s*(1-s) = s * (1 + g*(1-s))
//   dgate = dout * up * s * (1 + g*(1-s));  dup = dout * g * s
#define HS_SWIGLU_ROW_FUNCS(SUFFIX, ATTR)                                          \
  ATTR void SwiGluForwardRow##SUFFIX(float* o, const float* gate, const float* up, \
                                     int64_t I) {                                  \
    for (int64_t i = 0; i < I; ++i) {                                              \
      const float g = gate[i];                                                     \
      o[i] = g * Sigmoid(g) * up[i];                                               \
    }                                                                              \
  }                                                                                \
  ATTR void SwiGluBackwardRow##SUFFIX(float* dgate, float* dup, const float* d,   \
                                      const float* gate, const float* up,          \
                                      int64_t I) {                                 \
    for (int64_t i = 0; i < I; ++i) {                                              \
      const float g = gate[i];                                                     \
      const float s = Sigmoid(g);                                                  \
      const float u = up[i]; /* both inputs read before either write */           \
      dgate[i] = d[i] * u * s * (1.0f + g * (1.0f - s));                           \
      dup[i] = d[i] * g * s;                                                       \
    }                                                                              \
  }

HS_SWIGLU_ROW_FUNCS(Avx2, )
HS_SWIGLU_ROW_FUNCS(Avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,prefer-vector-width=512"))))
#undef HS_SWIGLU_ROW_FUNCS

}  // namespace

// SwiGluForward: out[n,i] = g * sigmoid(g) * up, g = gate_up[n,i],
// up = gate_up[n,I+i].
void SwiGluForward(float* out, const float* gate_up, int64_t N, int64_t I) {
  const bool avx512 = internal::HasAvx512();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* gate = gate_up + n * 2 * I;
    if (avx512) {
      SwiGluForwardRowAvx512(out + n * I, gate, gate + I, I);
    } else {
      SwiGluForwardRowAvx2(out + n * I, gate, gate + I, I);
    }
  }
}

// SwiGluBackward: dgate_up[n] = [dgate | dup] of row n (see the row loops).
void SwiGluBackward(float* dgate_up, const float* dout, const float* gate_up,
                    int64_t N, int64_t I) {
  const bool avx512 = internal::HasAvx512();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* gate = gate_up + n * 2 * I;
    float* dgate = dgate_up + n * 2 * I;
    if (avx512) {
      SwiGluBackwardRowAvx512(dgate, dgate + I, dout + n * I, gate, gate + I, I);
    } else {
      SwiGluBackwardRowAvx2(dgate, dgate + I, dout + n * I, gate, gate + I, I);
    }
  }
}

}  // namespace hs::kernels::cpu
