// File: models/kernels/cpu/swiglu.cc
//
// SwiGLU over a fused [gate | up] row (HF DeepseekV2MLP:
// down_proj(act_fn(gate_proj(x)) * up_proj(x)) with act_fn = SiLU), rows in
// parallel; every output element is written by one thread.
//
// Usage:
//   SwiGluForward(h, gate_up, N, I);            // h[N,I]
//   SwiGluBackward(dgate_up, dh, gate_up, N, I);
#include "models/kernels/cpu/swiglu.h"

#include "models/kernels/cpu/internal/exp.h"

namespace hs::kernels::cpu {
namespace {

inline float Sigmoid(float x) { return 1.0f / (1.0f + internal::Exp(-x)); }

}  // namespace

// SwiGluForward: out[n,i] = g * sigmoid(g) * up, g = gate_up[n,i],
// up = gate_up[n,I+i].
void SwiGluForward(float* out, const float* gate_up, int64_t N, int64_t I) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* gate = gate_up + n * 2 * I;
    const float* up = gate + I;
    float* o = out + n * I;
    for (int64_t i = 0; i < I; ++i) {
      const float g = gate[i];
      o[i] = g * Sigmoid(g) * up[i];
    }
  }
}

// SwiGluBackward, with s = sigmoid(g):
//   d silu(g)/dg = s + g*s*(1-s) = s * (1 + g*(1-s))
//   dgate = dout * up * s * (1 + g*(1-s));  dup = dout * g * s
void SwiGluBackward(float* dgate_up, const float* dout, const float* gate_up,
                    int64_t N, int64_t I) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* gate = gate_up + n * 2 * I;
    const float* up = gate + I;
    const float* d = dout + n * I;
    float* dgate = dgate_up + n * 2 * I;
    float* dup = dgate + I;
    for (int64_t i = 0; i < I; ++i) {
      const float g = gate[i];
      const float s = Sigmoid(g);
      const float u = up[i];  // both inputs read before either write
      dgate[i] = d[i] * u * s * (1.0f + g * (1.0f - s));
      dup[i] = d[i] * g * s;
    }
  }
}

}  // namespace hs::kernels::cpu
