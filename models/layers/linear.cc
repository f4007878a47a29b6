// File: models/layers/linear.cc — see linear.h.
#include "models/layers/linear.h"

#include "models/kernels/cpu/gemm.h"

namespace hs::models {

namespace kc = kernels::cpu;

Linear::Linear(ParamArena& arena, const std::string& name, int64_t in,
               int64_t out, float std)
    : arena_(&arena), in_(in), out_(out) {
  weight_ = arena.Add(name + ".weight", {out, in}, ParamInit::Normal(std));
}

void Linear::Forward(float* out, const float* in, int64_t N) const {
  kc::LinearForward(out, in, weight(), N, in_, out_);
}

void Linear::Backward(float* dinp, bool accumulate_dinp, const float* dout,
                      const float* in, int64_t N) const {
  kc::LinearBackward(dinp, accumulate_dinp, weight_grad(), dout, in, weight(), N, in_, out_);
}

}  // namespace hs::models
