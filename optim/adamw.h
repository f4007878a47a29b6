// File: optim/adamw.h
//
// AdamW with decoupled weight decay, exactly as torch.optim.AdamW
// (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR'19;
// PyTorch's single-tensor, non-amsgrad, non-foreach path). For one element
// at step t = step + 1:
//   p = p - lr * wd * p                       (decoupled decay, masked)
//   m = b1 * m + (1 - b1) * g                 (first moment)
//   v = b2 * v + (1 - b2) * g^2               (second moment)
//   mhat = m / (1 - b1^t),  vhat = v / (1 - b2^t)
//   p = p - lr * mhat / (sqrt(vhat) + eps)
// State (m, v) is fp32 and covers the optimizer's owned arena range.
//
// Usage:
//   AdamWOptions o;  o.weight_decay = 0.1;
//   HS_ASSIGN_OR_RETURN(auto mask, DecayMask::Create(layout, arena_size));
//   HS_ASSIGN_OR_RETURN(auto adamw, AdamW::Create(o, mask, 0, arena_size));
//   HS_RETURN_IF_ERROR(adamw->Step(params, grads, 0, arena_size, step, lr));
#ifndef OPTIM_ADAMW_H_
#define OPTIM_ADAMW_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "optim/optimizer.h"

namespace hs::optim {

// AdamWOptions: hyper-parameters. Defaults are DeepSeek-V2's pre-training
// values (beta1 0.9, beta2 0.95, weight decay 0.1); torch's defaults are
// (0.9, 0.999) and 0.01. Which parameters decay is the DecayMask's job.
struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

// ValidateAdamWOptions(o): errors name the field ("adamw.beta2 ...").
absl::Status ValidateAdamWOptions(const AdamWOptions& o);

// AdamWUpdate(p, g, m, v, n, lr, weight_decay, o, t, grad_scale)
//
// The element-wise kernel on one contiguous run that shares a decay flag:
// p[n], m[n], v[n] (updated in place), g[n] (read, times grad_scale). `weight_decay` is
// applied as given (pass 0 for non-decayed runs); o.weight_decay is
// ignored here. t >= 1 is the 1-based step count for bias correction.
// OpenMP-parallel for large n; per-element, so thread-count independent.
void AdamWUpdate(float* p, const float* g, float* m, float* v, int64_t n,
                 double lr, double weight_decay, const AdamWOptions& o,
                 int64_t t, float grad_scale = 1.0f);

// AdamW: the Optimizer for the owned arena range [begin, end).
class AdamW final : public Optimizer {
 public:
  // AdamW::Create(options, mask, begin, end): zero-initialised state for
  // [begin, end); errors for invalid options or a range outside the mask.
  static absl::StatusOr<std::unique_ptr<AdamW>> Create(
      const AdamWOptions& options, DecayMask mask, int64_t begin, int64_t end);

  const char* name() const override { return "adamw"; }

  // AdamW::Step: see Optimizer::Step; t = step + 1 for bias correction.
  using Optimizer::Step;
  absl::Status Step(float* params, const float* grads, int64_t offset,
                    int64_t n, int64_t step, double lr, float grad_scale) override;

  // AdamW::StateSpans(): {"exp_avg" (m), "exp_avg_sq" (v)}, torch's names.
  std::vector<StateSpan> StateSpans() override;

  const AdamWOptions& options() const { return options_; }

 private:
  AdamW(const AdamWOptions& options, DecayMask mask, int64_t begin,
        int64_t end);

  AdamWOptions options_;
  std::vector<float> exp_avg_;     // m, [end - begin]
  std::vector<float> exp_avg_sq_;  // v, [end - begin]
};

}  // namespace hs::optim

#endif  // OPTIM_ADAMW_H_
