// File: haiscale/train/test_util.cc — see test_util.h.
#include "haiscale/train/test_util.h"

#include "data/corpus.h"
#include "gtest/gtest.h"
#include "haiscale/config/config.h"

namespace hs::train::testing {

config::RunConfig TinyRun(const std::string& dir, const std::string& data) {
  auto cfg = config::ParseConfigText(R"pb(
    model {
      vocab_size: 256 hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 16
      num_hidden_layers: 2 num_attention_heads: 2 kv_lora_rank: 16 q_lora_rank: 24
      qk_nope_head_dim: 8 qk_rope_head_dim: 8 v_head_dim: 8
      first_k_dense_replace: 1 n_routed_experts: 4 num_experts_per_tok: 2 n_shared_experts: 1
      aux_loss_alpha: 0.001 max_position_embeddings: 64 initializer_range: 0.05
    }
    train { seed: 5 steps: 60 global_batch_size: 4 micro_batch_size: 4 seq_len: 32 threads: 1 }
    optimizer { type: ADAMW lr: 5e-3 weight_decay: 0.0 grad_clip: 1.0 }
    schedule { type: WARMUP_COSINE warmup_steps: 5 }
    data { shuffle: true }
  )pb", "tiny");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  cfg->mutable_train()->set_output_dir(dir);
  cfg->mutable_data()->set_train_path(data);
  return *cfg;
}

std::string RepeatedTextCorpus(const std::string& path, const std::string& sentence, int times) {
  std::string text;
  for (int i = 0; i < times; ++i) text += sentence;
  EXPECT_TRUE(data::WriteTokensFromText(text, path).ok());
  return path;
}

}  // namespace hs::train::testing
