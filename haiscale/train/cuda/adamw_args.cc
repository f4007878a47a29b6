// File: haiscale/train/cuda/adamw_args.cc — see adamw_args.h.
#include "haiscale/train/cuda/adamw_args.h"

namespace hs::train {

models::cuda_model::AdamWStepArgs AdamWArgs(const config::OptimizerConfig& o, int64_t step,
                                            double lr) {
  models::cuda_model::AdamWStepArgs a;
  a.step = step;
  a.lr = lr;
  a.beta1 = o.beta1();
  a.beta2 = o.beta2();
  a.eps = o.eps();
  a.weight_decay = o.weight_decay();
  a.max_grad_norm = o.grad_clip();
  return a;
}

}  // namespace hs::train
