// File: tests/ep/model_config_convert_ep_test.cc
//
// The RunConfig overload of ToModelConfig carries the expert-parallel
// routing knobs of `parallel` into DeepseekV2Config, keeps every model field
// of the ModelConfig overload, and the converted config passes the model's
// own routing check (models::CheckMoeRouting).
#include "gtest/gtest.h"
#include "haiscale/config/config.h"
#include "haiscale/config/model_config_convert.h"
#include "models/layers/moe.h"

namespace hs::config {
namespace {

constexpr char kRun[] = R"pb(
  model {
    vocab_size: 256 hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 16
    num_hidden_layers: 2 num_attention_heads: 2 kv_lora_rank: 16
    qk_nope_head_dim: 8 qk_rope_head_dim: 4 v_head_dim: 8
    n_routed_experts: 8 num_experts_per_tok: 2 n_shared_experts: 1
    max_position_embeddings: 64
  }
  train { steps: 2 global_batch_size: 4 seq_len: 16 }
  data { train_path: "x.bin" }
)pb";

config::RunConfig MakeRun(const std::vector<std::string>& overrides) {
  absl::StatusOr<config::RunConfig> run = config::ParseConfigText(kRun, "run.pbtxt");
  EXPECT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(config::ApplyOverrides(&*run, overrides).ok());
  EXPECT_TRUE(config::ValidateConfig(*run).ok()) << config::ValidateConfig(*run);
  return *run;
}

TEST(ToModelConfigRunTest, DefaultsLeaveRoutingOff) {
  config::RunConfig run = MakeRun({});
  models::DeepseekV2Config a = ToModelConfig(run.model()), b = ToModelConfig(run);
  EXPECT_EQ(b.ep_devices, 1);
  EXPECT_EQ(b.device_limit, 0);
  EXPECT_EQ(b.device_balance_alpha, 0.0);
  EXPECT_EQ(b.comm_balance_alpha, 0.0);
  EXPECT_EQ(b.capacity_factor, 0.0);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.n_routed_experts, b.n_routed_experts);
  EXPECT_EQ(a.aux_loss_alpha, b.aux_loss_alpha);
  EXPECT_EQ(a.topk_method, b.topk_method);
}

TEST(ToModelConfigRunTest, CarriesParallelRoutingKnobs) {
  config::RunConfig run =
      MakeRun({"parallel.dp=2", "parallel.ep=2", "parallel.ep_device_limit=1",
           "parallel.device_balance_alpha=0.05", "parallel.comm_balance_alpha=0.02",
           "parallel.capacity_factor=1.5"});
  models::DeepseekV2Config c = ToModelConfig(run);
  EXPECT_EQ(c.ep_devices, 2);
  EXPECT_EQ(c.device_limit, 1);
  EXPECT_DOUBLE_EQ(c.device_balance_alpha, 0.05);
  EXPECT_DOUBLE_EQ(c.comm_balance_alpha, 0.02);
  EXPECT_DOUBLE_EQ(c.capacity_factor, 1.5);
  EXPECT_TRUE(models::CheckMoeRouting(c).ok()) << models::CheckMoeRouting(c);
}

TEST(ToModelConfigRunTest, RoutingDevicesOverrideEpForReferenceRuns) {
  // A `--ep 1` reference of an ep=4 run keeps routing over 4 devices.
  config::RunConfig run = MakeRun({"parallel.ep_routing_devices=4", "parallel.ep_device_limit=2",
                               "parallel.comm_balance_alpha=0.1"});
  models::DeepseekV2Config c = ToModelConfig(run);
  EXPECT_EQ(c.ep_devices, 4);
  EXPECT_EQ(c.device_limit, 2);
  EXPECT_TRUE(models::CheckMoeRouting(c).ok()) << models::CheckMoeRouting(c);
}

}  // namespace
}  // namespace hs::config
