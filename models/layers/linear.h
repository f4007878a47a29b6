// File: models/layers/linear.h
//
// Linear: y = x W^T with W [O, I] in Hugging Face's nn.Linear layout (no
// bias: DeepSeek-V2 has none). Holds only its parameter; the layer that
// owns it keeps the input it needs for the weight gradient.
// Legend: N = rows (tokens), I = in features, O = out features.
#ifndef MODELS_LAYERS_LINEAR_H_
#define MODELS_LAYERS_LINEAR_H_

#include <cstdint>
#include <string>

#include "models/param_arena.h"

namespace hs::models {

class Linear {
 public:
  Linear() = default;
  // Registers "<name>.weight" [out, in] initialised N(0, std).
  Linear(ParamArena& arena, const std::string& name, int64_t in, int64_t out,
         float std);

  // Forward: out[N,O] = in[N,I] W^T.   (out =)
  void Forward(float* out, const float* in, int64_t N) const;
  // Backward: dinp[N,I] (=, or += with accumulate_dinp) dout W and
  // dW += dout^T in (kernels::cpu::LinearBackward: the two products at once
  // where two threads allow; the weight product deferred while a zero-bubble
  // WeightGradQueue is active).
  void Backward(float* dinp, bool accumulate_dinp, const float* dout, const float* in,
                int64_t N) const;

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  ParamId weight_id() const { return weight_; }
  float* weight() const { return arena_->param(weight_); }
  float* weight_grad() const { return arena_->grad(weight_); }

 private:
  ParamArena* arena_ = nullptr;
  ParamId weight_ = -1;
  int64_t in_ = 0, out_ = 0;
};

}  // namespace hs::models

#endif  // MODELS_LAYERS_LINEAR_H_
