// File: models/model_config.cc — structural checks, see model_config.h.
#include "models/model_config.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hs::models {

absl::Status CheckModelConfig(const DeepseekV2Config& c) {
  std::vector<std::string> errors;
  auto positive = [&](int64_t v, const char* field) {
    if (v <= 0) errors.push_back(absl::StrCat("model.", field, ": must be > 0, got ", v));
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.kv_lora_rank, "kv_lora_rank");
  positive(c.qk_nope_head_dim, "qk_nope_head_dim");
  positive(c.v_head_dim, "v_head_dim");
  positive(c.qk_rope_head_dim, "qk_rope_head_dim");
  if (c.qk_rope_head_dim % 2 != 0)
    errors.push_back(absl::StrCat("model.qk_rope_head_dim: must be even, got ", c.qk_rope_head_dim));
  if (c.q_lora_rank < 0)
    errors.push_back(absl::StrCat("model.q_lora_rank: must be >= 0 (0 = none), got ", c.q_lora_rank));
  bool any_dense = false;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) any_dense |= !c.IsMoeLayer(i);
  if (any_dense) positive(c.intermediate_size, "intermediate_size");
  if (c.n_routed_experts > 0) {
    positive(c.moe_intermediate_size, "moe_intermediate_size");
    positive(c.num_experts_per_tok, "num_experts_per_tok");
    positive(c.moe_layer_freq, "moe_layer_freq");
    if (c.num_experts_per_tok > c.n_routed_experts)
      errors.push_back(absl::StrCat("model.num_experts_per_tok: ", c.num_experts_per_tok,
                                    " > n_routed_experts ", c.n_routed_experts));
    if (c.topk_method == "group_limited_greedy") {
      if (c.n_group <= 0 || c.n_routed_experts % c.n_group != 0)
        errors.push_back(absl::StrCat("model.n_group: ", c.n_group,
                                      " must divide n_routed_experts ", c.n_routed_experts));
      else if (c.topk_group <= 0 || c.topk_group > c.n_group)
        errors.push_back(absl::StrCat("model.topk_group: must be in [1, n_group=", c.n_group,
                                      "], got ", c.topk_group));
      else if (c.num_experts_per_tok > c.topk_group * (c.n_routed_experts / c.n_group))
        errors.push_back(absl::StrCat("model.num_experts_per_tok: ", c.num_experts_per_tok,
                                      " exceeds the experts in topk_group groups"));
    } else if (c.topk_method != "greedy") {
      errors.push_back(absl::StrCat("model.topk_method: unknown '", c.topk_method,
                                    "' (greedy | group_limited_greedy)"));
    }
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return absl::OkStatus();
}

}  // namespace hs::models
