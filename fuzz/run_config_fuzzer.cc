// File: fuzz/run_config_fuzzer.cc
//
// libFuzzer target: a .pbtxt run config and `--set` assignments. The input
// is split at the first NUL: before it, config text for ParseConfigText +
// ValidateConfig; after it, newline-separated "a.b=c" assignments applied
// with ApplyOverride to a known-good config (then validated, and the
// result's text read back).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_split.h"
#include "haiscale/config/config.h"

namespace {

constexpr char kBase[] = R"pb(
  model { vocab_size: 256 hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 16
          num_hidden_layers: 2 num_attention_heads: 2 kv_lora_rank: 16 qk_nope_head_dim: 8
          qk_rope_head_dim: 8 v_head_dim: 8 first_k_dense_replace: 1 n_routed_experts: 4
          num_experts_per_tok: 2 max_position_embeddings: 64 }
  train { steps: 2 global_batch_size: 4 seq_len: 16 output_dir: "out" }
)pb";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  auto config = hs::config::ParseConfigText(text, "fuzz.pbtxt");
  if (config.ok()) (void)hs::config::ValidateConfig(*config);
  if (nul == std::string::npos) return 0;
  auto base = hs::config::ParseConfigText(kBase, "base.pbtxt");
  if (!base.ok()) __builtin_trap();
  for (absl::string_view line : absl::StrSplit(input.substr(nul + 1), '\n')) {
    (void)hs::config::ApplyOverride(&*base, std::string(line));
  }
  if (hs::config::ValidateConfig(*base).ok()) {
    auto again = hs::config::ParseConfigText(hs::config::ConfigToText(*base), "again.pbtxt");
    if (!again.ok()) __builtin_trap();
  }
  return 0;
}
