// File: optim/make_optimizer.cc — optimizer factory, see make_optimizer.h.
#include "optim/make_optimizer.h"

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"

namespace hs::optim {

absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(
    const OptimizerOptions& o, const std::vector<ParamRange>& layout,
    int64_t arena_size, int64_t begin, int64_t end) {
  HS_ASSIGN_OR_RETURN(DecayMask mask, DecayMask::Create(layout, arena_size));
  if (o.type == "adamw") {
    HS_ASSIGN_OR_RETURN(std::unique_ptr<AdamW> adamw,
                        AdamW::Create(o.adamw, std::move(mask), begin, end));
    return std::unique_ptr<Optimizer>(std::move(adamw));
  }
  if (o.type == "sgd") {
    HS_ASSIGN_OR_RETURN(std::unique_ptr<Sgd> sgd,
                        Sgd::Create(o.sgd, std::move(mask), begin, end));
    return std::unique_ptr<Optimizer>(std::move(sgd));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "optimizer.type: unknown optimizer '", o.type,
      "' (expected adamw or sgd)"));
}

}  // namespace hs::optim
