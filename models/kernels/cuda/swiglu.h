// File: models/kernels/cuda/swiglu.h
//
// SwiGLU on the fused gate|up projection, bf16 in/out, fp32 math.
// CPU twin: models/kernels/cpu/swiglu.h. Legend: N rows, I width;
// gate_up[N, 2I] = [gate | up] per row.
//   out[n,i]  = bf16(silu(g) * u),  silu(g) = g * sigmoid(g)        (=)
//   dgate     = bf16(dout * u * sigmoid(g) * (1 + g * (1 - sigmoid(g))))
//   dup       = bf16(dout * silu(g))                                 (=)
//
// Usage:
//   SwiGluForward(h, gate_up, N, I, stream);
//   SwiGluBackward(dgate_up, dh, gate_up, N, I, stream);
#ifndef MODELS_KERNELS_CUDA_SWIGLU_H_
#define MODELS_KERNELS_CUDA_SWIGLU_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

// SwiGluForward: out[N,I] (=) from gate_up[N,2I].
cudaError_t SwiGluForward(bf16_bits* out, const bf16_bits* gate_up, int64_t N,
                          int64_t I, cudaStream_t stream);

// SwiGluBackward: dgate_up[N,2I] (=) from dout[N,I] and the saved gate_up.
// dgate_up must not alias gate_up.
cudaError_t SwiGluBackward(bf16_bits* dgate_up, const bf16_bits* dout,
                           const bf16_bits* gate_up, int64_t N, int64_t I,
                           cudaStream_t stream);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_SWIGLU_H_
