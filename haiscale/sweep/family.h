// File: haiscale/sweep/family.h
//
// The model-family rule of a sweep (sweep.proto FamilyRule): a depth
// becomes a DeepSeek-V2 shape that keeps the base model's ratios.
//
//   hidden_size      = heads * (base hidden_size / base heads), heads =
//                      max(1, round(aspect_ratio * depth / that head width))
//   per-head dims    = the base model's (qk_nope, qk_rope, v_head_dim)
//   kv_lora_rank, q_lora_rank, intermediate_size, moe_intermediate_size
//                    = base value * hidden_size / base hidden_size, rounded
//                      to rank_multiple (at least rank_multiple)
//   first_k_dense_replace = round(base value * depth / base depth)
//   n_routed_experts = the base's, or scaled with width when
//                      scale_expert_count (top-k and shared experts fixed)
//
// Usage:
//   HS_ASSIGN_OR_RETURN(config::ModelConfig m, FamilyModel(base.model(), rule, 6));
#ifndef HAISCALE_SWEEP_FAMILY_H_
#define HAISCALE_SWEEP_FAMILY_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "haiscale/config/config.pb.h"
#include "haiscale/sweep/sweep.pb.h"

namespace hs::sweep {

// FamilyModel(base, rule, depth): the model of `depth` blocks (see above).
// Errors name the field that cannot be derived (e.g. a base hidden_size
// that is not a whole number of heads).
absl::StatusOr<config::ModelConfig> FamilyModel(const config::ModelConfig& base,
                                                const FamilyRule& rule, int64_t depth);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_FAMILY_H_
