// File: models/kernels/cpu/swiglu.h
//
// SwiGLU on a fused gate|up projection: the MLP computes one GEMM with
// weight [2I, C] = concat(gate_proj, up_proj), giving rows [gate(I) | up(I)].
//   out[n,i] = silu(gate[n,i]) * up[n,i],  silu(g) = g * sigmoid(g)
// Legend: N = rows, I = intermediate size.
#ifndef MODELS_KERNELS_CPU_SWIGLU_H_
#define MODELS_KERNELS_CPU_SWIGLU_H_

#include <cstdint>

namespace hs::kernels::cpu {

// SwiGluForward: out[N,I] (=) from gate_up[N,2I].
void SwiGluForward(float* out, const float* gate_up, int64_t N, int64_t I);

// SwiGluBackward: dgate_up[N,2I] (=) from dout[N,I] and the saved gate_up.
//   dgate = dout * up * sigmoid(g) * (1 + g * (1 - sigmoid(g)))
//   dup   = dout * silu(g)
void SwiGluBackward(float* dgate_up, const float* dout, const float* gate_up,
                    int64_t N, int64_t I);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_SWIGLU_H_
