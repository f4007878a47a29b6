// File: models/layers/mlp.cc — see mlp.h.
#include "models/layers/mlp.h"

#include <vector>

#include "haiscale/logging.h"
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/swiglu.h"

namespace hs::models {

namespace kc = kernels::cpu;

Mlp::Mlp(ParamArena& arena, const std::string& name, int64_t C, int64_t I,
         float std, int64_t expert)
    : arena_(&arena), C_(C), I_(I) {
  gate_ = arena.Add(name + ".gate_proj.weight", {I, C}, ParamInit::Normal(std),
                    true, expert);
  up_ = arena.Add(name + ".up_proj.weight", {I, C}, ParamInit::Normal(std),
                  true, expert);
  down_ = arena.Add(name + ".down_proj.weight", {C, I}, ParamInit::Normal(std),
                    true, expert);
  // The fused [2I, C] view needs up_proj right after gate_proj.
  HS_CHECK(arena.spec(up_).offset == arena.spec(gate_).offset + I * C);
}

void Mlp::Forward(float* out, const float* in, int64_t N,
                  MlpSaved* saved) const {
  if (!saved->gate_up.defined() || saved->gate_up.dim(0) != N) {
    saved->gate_up = Tensor::Uninitialized({N, 2 * I_});
    saved->act = Tensor::Uninitialized({N, I_});
  }
  ForwardRows(out, in, N, saved->gate_up.data<float>(),
              saved->act.data<float>());
}

void Mlp::ForwardRows(float* out, const float* in, int64_t N, float* gate_up,
                      float* act) const {
  if (N == 0) return;
  // gate_up[N,2I] = in[N,C] @ [W_gate; W_up]^T
  kc::LinearForward(gate_up, in, arena_->param(gate_), N, C_, 2 * I_);
  kc::SwiGluForward(act, gate_up, N, I_);
  kc::LinearForward(out, act, arena_->param(down_), N, I_, C_);
}

void Mlp::Backward(float* dinp, const float* dout, const float* in, int64_t N,
                   const MlpSaved& saved, bool overwrite_dinp) const {
  BackwardRows(dinp, dout, in, N, saved.gate_up.data<float>(),
               saved.act.data<float>(), overwrite_dinp);
}

void Mlp::BackwardRows(float* dinp, const float* dout, const float* in,
                       int64_t N, const float* gate_up,
                       const float* act, bool overwrite_dinp) const {
  if (N == 0) return;
  // down: dact = dout @ W_down ; dW_down += dout^T act
  // Scratch from the caching allocator, fully overwritten before it is read.
  Tensor dact = Tensor::Uninitialized({N, I_});
  kc::LinearBackward(dact.data<float>(), /*accumulate_dinp=*/false, arena_->grad(down_), dout,
                     act, arena_->param(down_), N, I_, C_);
  // swiglu: dgate_up[N,2I]
  Tensor dgate_up = Tensor::Uninitialized({N, 2 * I_});
  kc::SwiGluBackward(dgate_up.data<float>(), dact.data<float>(), gate_up, N, I_);
  // fused gate|up: dinp (+)= dgate_up @ W ; dW += dgate_up^T in
  kc::LinearBackward(dinp, /*accumulate_dinp=*/!overwrite_dinp, arena_->grad(gate_),
                     dgate_up.data<float>(), in, arena_->param(gate_), N, C_, 2 * I_);
}

}  // namespace hs::models
