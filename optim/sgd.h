// File: optim/sgd.h
//
// Stochastic gradient descent with torch.optim.SGD's semantics (coupled L2
// weight decay, heavy-ball or Nesterov momentum, dampening). Per element:
//   g = g + wd * p                                (if weight_decay, masked)
//   b = g                                         (first step, step == 0)
//   b = momentum * b + (1 - dampening) * g        (later steps)
//   g = nesterov ? g + momentum * b : b           (if momentum != 0)
//   p = p - lr * g
// torch creates the momentum buffer as a copy of the first gradient it
// sees; here "first" is step == 0, so a run resumed at step k > 0 must load
// the "momentum_buffer" state from its checkpoint.
//
// Usage:
//   SgdOptions o;  o.momentum = 0.9;
//   HS_ASSIGN_OR_RETURN(auto sgd, Sgd::Create(o, mask, 0, arena_size));
//   HS_RETURN_IF_ERROR(sgd->Step(params, grads, 0, arena_size, step, lr));
#ifndef OPTIM_SGD_H_
#define OPTIM_SGD_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "optim/optimizer.h"

namespace hs::optim {

// SgdOptions: torch.optim.SGD's hyper-parameters and defaults.
struct SgdOptions {
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// ValidateSgdOptions(o): errors name the field ("sgd.momentum ..."); as in
// torch, nesterov needs momentum > 0 and dampening == 0.
absl::Status ValidateSgdOptions(const SgdOptions& o);

// SgdUpdate(p, g, buf, n, lr, weight_decay, o, first, grad_scale)
//
// The element-wise kernel on one contiguous run sharing a decay flag:
// p[n] (updated), g[n] (read, times grad_scale), buf[n] (momentum buffer, updated; may be
// null when o.momentum == 0). `first` selects buf = g. `weight_decay` is
// applied as given; o.weight_decay is ignored here.
void SgdUpdate(float* p, const float* g, float* buf, int64_t n, double lr,
               double weight_decay, const SgdOptions& o, bool first,
               float grad_scale = 1.0f);

// Sgd: the Optimizer for the owned arena range [begin, end).
class Sgd final : public Optimizer {
 public:
  // Sgd::Create(options, mask, begin, end): allocates the momentum buffer
  // only when momentum != 0.
  static absl::StatusOr<std::unique_ptr<Sgd>> Create(const SgdOptions& options,
                                                     DecayMask mask,
                                                     int64_t begin,
                                                     int64_t end);

  const char* name() const override { return "sgd"; }

  // Sgd::Step: see Optimizer::Step.
  using Optimizer::Step;
  absl::Status Step(float* params, const float* grads, int64_t offset,
                    int64_t n, int64_t step, double lr, float grad_scale) override;

  // Sgd::StateSpans(): {"momentum_buffer"} with momentum, else empty.
  std::vector<StateSpan> StateSpans() override;

  const SgdOptions& options() const { return options_; }

 private:
  Sgd(const SgdOptions& options, DecayMask mask, int64_t begin, int64_t end);

  SgdOptions options_;
  std::vector<float> momentum_buffer_;  // [end - begin] or empty
};

}  // namespace hs::optim

#endif  // OPTIM_SGD_H_
