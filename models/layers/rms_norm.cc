// File: models/layers/rms_norm.cc — see rms_norm.h.
#include "models/layers/rms_norm.h"

#include "models/kernels/cpu/rms_norm.h"

namespace hs::models {

RmsNorm::RmsNorm(ParamArena& arena, const std::string& name, int64_t C,
                 float eps)
    : arena_(&arena), C_(C), eps_(eps) {
  weight_ = arena.Add(name + ".weight", {C}, ParamInit::Ones(),
                      /*weight_decay=*/false);
}

void RmsNorm::Forward(float* out, float* rstd, const float* in,
                      int64_t N) const {
  kernels::cpu::RmsNormForward(out, rstd, in, arena_->param(weight_), N, C_,
                               eps_);
}

void RmsNorm::Backward(float* dinp, const float* dout, const float* in,
                       const float* rstd, int64_t N, const float* dinp_base) const {
  kernels::cpu::RmsNormBackward(dinp, arena_->grad(weight_), dout, in,
                                arena_->param(weight_), rstd, N, C_, dinp_base);
}

}  // namespace hs::models
