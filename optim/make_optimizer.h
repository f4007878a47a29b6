// File: optim/make_optimizer.h
//
// Builds the Optimizer the run's config names, so the trainer stays
// generic over AdamW and SGD. The config proto (haiscale/config) maps onto
// OptimizerOptions field by field.
//
// Usage:
//   OptimizerOptions o;  o.type = "adamw";  o.adamw.weight_decay = 0.1;
//   std::vector<ParamRange> layout = ...;   // from the model's ParamSpecs,
//                                           // decay = DecaysByDefault(shape,
//                                           //   o.decay_norms_and_biases)
//   HS_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt,
//                       MakeOptimizer(o, layout, arena_size, begin, end));
#ifndef OPTIM_MAKE_OPTIMIZER_H_
#define OPTIM_MAKE_OPTIMIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "optim/adamw.h"
#include "optim/optimizer.h"
#include "optim/sgd.h"

namespace hs::optim {

// OptimizerOptions: which optimizer and its hyper-parameters.
struct OptimizerOptions {
  std::string type = "adamw";  // "adamw" | "sgd"
  AdamWOptions adamw;
  SgdOptions sgd;
  // Whether 1-D parameters (RMSNorm weights, biases) get weight decay; see
  // DecaysByDefault. Read by whoever builds the layout's `decay` flags.
  bool decay_norms_and_biases = false;
};

// MakeOptimizer(o, layout, arena_size, begin, end)
//
// Validates `layout` against the arena (DecayMask::Create) and returns the
// optimizer owning state for arena range [begin, end). Errors name the
// field ("optimizer.type ...", "adamw.beta1 ...") or the parameter.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(
    const OptimizerOptions& o, const std::vector<ParamRange>& layout,
    int64_t arena_size, int64_t begin, int64_t end);

}  // namespace hs::optim

#endif  // OPTIM_MAKE_OPTIMIZER_H_
