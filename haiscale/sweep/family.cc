// File: haiscale/sweep/family.cc — see family.h.
#include "haiscale/sweep/family.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace hs::sweep {
namespace {

// base * ratio rounded to a positive multiple of `multiple`.
int64_t ScaleRounded(int64_t base, double ratio, int64_t multiple) {
  const double v = double(base) * ratio / double(multiple);
  return std::max<int64_t>(1, std::llround(v)) * multiple;
}

}  // namespace

absl::StatusOr<config::ModelConfig> FamilyModel(const config::ModelConfig& base,
                                                const FamilyRule& rule, int64_t depth) {
  const int64_t d0 = base.hidden_size();
  const int64_t h0 = base.num_attention_heads();
  const int64_t l0 = base.num_hidden_layers();
  if (depth < 1) return absl::InvalidArgumentError(absl::StrCat("family: depth ", depth, " < 1"));
  if (h0 < 1 || d0 % h0 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "base.model.hidden_size: ", d0, " is not a whole number of heads (num_attention_heads ",
        h0, "), so the family cannot keep the width per head"));
  }
  if (l0 < 1) return absl::InvalidArgumentError("base.model.num_hidden_layers: must be >= 1");
  const int64_t head_width = d0 / h0;
  const double aspect = rule.has_aspect_ratio() ? rule.aspect_ratio() : double(d0) / double(l0);
  const int64_t heads = std::max<int64_t>(1, std::llround(aspect * double(depth) / double(head_width)));
  const int64_t d = heads * head_width;
  const double ratio = double(d) / double(d0);
  const int64_t mult = std::max<int64_t>(1, rule.rank_multiple());

  config::ModelConfig m = base;
  m.set_num_hidden_layers(depth);
  m.set_hidden_size(d);
  m.set_num_attention_heads(heads);
  m.set_num_key_value_heads(heads);
  m.set_kv_lora_rank(ScaleRounded(base.kv_lora_rank(), ratio, mult));
  if (base.q_lora_rank() > 0) m.set_q_lora_rank(ScaleRounded(base.q_lora_rank(), ratio, mult));
  m.set_intermediate_size(ScaleRounded(base.intermediate_size(), ratio, mult));
  if (base.n_routed_experts() > 0) {
    m.set_moe_intermediate_size(ScaleRounded(base.moe_intermediate_size(), ratio, mult));
    m.set_first_k_dense_replace(
        std::min<int64_t>(depth, std::llround(double(base.first_k_dense_replace()) *
                                              double(depth) / double(l0))));
    if (rule.scale_expert_count()) {
      const int64_t group = std::max<int64_t>(1, base.n_group());
      int64_t experts = ScaleRounded(base.n_routed_experts(), ratio, group);
      experts = std::max(experts, base.num_experts_per_tok());
      experts = (experts + group - 1) / group * group;
      m.set_n_routed_experts(experts);
    }
  }
  return m;
}

}  // namespace hs::sweep
