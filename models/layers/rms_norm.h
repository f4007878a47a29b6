// File: models/layers/rms_norm.h
//
// RMSNorm layer (HF DeepseekV2RMSNorm): weight [C] initialised to ones,
// not weight-decayed. The owner keeps the input and rstd[N] it saved.
#ifndef MODELS_LAYERS_RMS_NORM_H_
#define MODELS_LAYERS_RMS_NORM_H_

#include <cstdint>
#include <string>

#include "models/param_arena.h"

namespace hs::models {

class RmsNorm {
 public:
  RmsNorm() = default;
  // Registers "<name>.weight" [C].
  RmsNorm(ParamArena& arena, const std::string& name, int64_t C, float eps);

  // Forward: out[N,C] (=), rstd[N] (=).
  void Forward(float* out, float* rstd, const float* in, int64_t N) const;
  // Backward: dinp[N,C] (+=), weight grad (+=); with dinp_base, dinp (=)
  // dinp_base + the norm's input gradient (kernels::cpu::RmsNormBackward).
  void Backward(float* dinp, const float* dout, const float* in,
                const float* rstd, int64_t N, const float* dinp_base = nullptr) const;

  int64_t channels() const { return C_; }

 private:
  ParamArena* arena_ = nullptr;
  ParamId weight_ = -1;
  int64_t C_ = 0;
  float eps_ = 1e-6f;
};

}  // namespace hs::models

#endif  // MODELS_LAYERS_RMS_NORM_H_
