// File: models/layers/mlp.h
//
// SwiGLU MLP (HF DeepseekV2MLP): down(silu(gate(x)) * up(x)).
// gate_proj and up_proj are registered back to back in the arena, so they
// form one [2I, C] matrix and the forward does one GEMM for both.
// The same class is a dense block's MLP, one routed expert, or the shared
// experts (I = n_shared_experts * moe_intermediate_size).
// Legend: N = rows, C = hidden, I = intermediate.
#ifndef MODELS_LAYERS_MLP_H_
#define MODELS_LAYERS_MLP_H_

#include <cstdint>
#include <string>

#include "haiscale/tensor.h"
#include "models/param_arena.h"

namespace hs::models {

// What the forward keeps for the backward (rows of this call only).
struct MlpSaved {
  Tensor gate_up;  // [N, 2I] pre-activation gate | up
  Tensor act;      // [N, I]  silu(gate) * up
};

class Mlp {
 public:
  Mlp() = default;
  // Registers <name>.gate_proj/.up_proj/.down_proj weights.
  Mlp(ParamArena& arena, const std::string& name, int64_t C, int64_t I,
      float std, int64_t expert = -1);

  // Forward: out[N,C] (=); `saved` buffers are (re)allocated when needed.
  void Forward(float* out, const float* in, int64_t N, MlpSaved* saved) const;

  // Forward into caller-provided saved rows (experts share one buffer):
  // gate_up [N,2I] and act [N,I] pointers.
  void ForwardRows(float* out, const float* in, int64_t N, float* gate_up,
                   float* act) const;

  // Backward: dinp[N,C] (+=, or = with overwrite_dinp), weight grads (+=).
  void Backward(float* dinp, const float* dout, const float* in, int64_t N,
                const MlpSaved& saved, bool overwrite_dinp = false) const;
  // BackwardRows: as Backward on caller-provided saved rows; with
  // overwrite_dinp, dinp (=) instead of (+=), so a caller whose rows get no
  // other gradient (a routed expert's) needs no zeroed buffer.
  void BackwardRows(float* dinp, const float* dout, const float* in, int64_t N,
                    const float* gate_up, const float* act, bool overwrite_dinp = false) const;

  int64_t hidden() const { return C_; }
  int64_t intermediate() const { return I_; }
  ParamId first_param() const { return gate_; }
  ParamId last_param() const { return down_; }

 private:
  ParamArena* arena_ = nullptr;
  ParamId gate_ = -1, up_ = -1, down_ = -1;
  int64_t C_ = 0, I_ = 0;
};

}  // namespace hs::models

#endif  // MODELS_LAYERS_MLP_H_
