// The memory plan's numbers against what a small model really allocates
// (the CPU allocator's live and peak bytes), ZeRO-1's share, and the
// refusal of a run the machine cannot hold.
#include "haiscale/train/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/config/config.h"
#include "haiscale/rng.h"
#include "haiscale/tensor.h"
#include "haiscale/config/model_config_convert.h"
#include "models/deepseek_v2.h"
#include "optim/make_optimizer.h"

namespace hs::train {
namespace {

config::RunConfig SmallRun(int64_t micro_batch, int64_t seq, bool recompute) {
  auto cfg = config::ParseConfigText(R"pb(
    model {
      vocab_size: 512 hidden_size: 64 intermediate_size: 160 moe_intermediate_size: 32
      num_hidden_layers: 3 num_attention_heads: 4 kv_lora_rank: 32 q_lora_rank: 48
      qk_nope_head_dim: 16 qk_rope_head_dim: 8 v_head_dim: 16
      first_k_dense_replace: 1 n_routed_experts: 8 num_experts_per_tok: 2 n_shared_experts: 1
      max_position_embeddings: 128
    }
    train { seq_len: 32 global_batch_size: 8 }
    data { train_path: "unused" })pb",
                                      "small");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  cfg->mutable_train()->set_micro_batch_size(micro_batch);
  cfg->mutable_train()->set_seq_len(seq);
  cfg->mutable_train()->set_recompute(recompute);
  return *cfg;
}

std::vector<int32_t> Tokens(int64_t n, int64_t vocab) {
  Philox rng(7, 0);
  std::vector<int32_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = int32_t(rng.Uint64Below(i, vocab));
  return t;
}

int64_t Live() { return GetCpuCacheStats().live_bytes; }

// Measured bytes within [lo, hi] x planned.
void ExpectNear(const char* what, int64_t measured, int64_t planned, double lo, double hi) {
  std::printf("%-34s planned %10lld  measured %10lld  ratio %.3f\n", what, (long long)planned,
              (long long)measured, double(measured) / double(planned));
  EXPECT_GE(double(measured), lo * double(planned)) << what;
  EXPECT_LE(double(measured), hi * double(planned)) << what;
}

TEST(MemoryPlanTest, MatchesMeasuredAllocations) {
  // Shapes 4 and 5 set an expert capacity: the MoE layers then keep their
  // expert rows in slot order as well (the plan counts them only then).
  for (int shape = 0; shape < 6; ++shape) {
    const bool recompute = shape % 2 == 1;
    const int64_t mbs = shape < 2 || shape >= 4 ? 4 : 1, seq = shape < 2 || shape >= 4 ? 32 : 128;
    config::RunConfig run = SmallRun(mbs, seq, recompute);
    if (shape >= 4) run.mutable_parallel()->set_capacity_factor(2.0);
    auto plan = PlanTrainingMemory(run, {.world_size = 1});
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_EQ(plan->stages.size(), 1u);
    const StageMemory& st = plan->stages[0];
    if (shape == 0) std::printf("%s", plan->Format().c_str());

    // Parameters + gradients: exactly the arena (up to the allocator's size
    // class, at most 12.5% above).
    const int64_t before = Live();
    models::ModelOptions mo{.seed = 1, .max_seq_len = seq, .recompute_all = recompute};
    auto model = models::DeepseekV2Model::Create(config::ToModelConfig(run), mo);
    ASSERT_TRUE(model.ok()) << model.status();
    // The RoPE table is part of the model too (a few KiB here).
    ExpectNear("parameters + gradients", Live() - before, st.params + st.grads, 1.0, 1.13);

    // Optimizer state: AdamW's m and v.
    std::vector<optim::ParamRange> layout;
    for (const auto& s : (*model)->arena().specs()) layout.push_back({s.name, s.offset, s.numel});
    auto opt = optim::MakeOptimizer({}, layout, (*model)->arena().size(), 0,
                                    (*model)->arena().size());
    ASSERT_TRUE(opt.ok()) << opt.status();
    int64_t state = 0;
    for (const auto& span : (*opt)->StateSpans()) state += span.size * 4;
    ExpectNear("optimizer state", state, st.optimizer, 1.0, 1.0);

    // Activations: the peak over one forward + backward of a micro-batch.
    const int64_t B = plan->micro_batch, T = plan->seq_len;
    auto tok = Tokens(B * T + 1, 512);
    const int64_t base = Live();
    ResetCpuPeakBytes();
    ASSERT_TRUE((*model)->Forward(tok.data(), tok.data() + 1, B, T).ok());
    ASSERT_TRUE((*model)->Backward(1.0f / (B * T), 1.0f).ok());
    const int64_t peak = GetCpuCacheStats().peak_live_bytes - base;
    const ActivationBytes& a = st.activations_per_micro_batch;
    ExpectNear(recompute ? "activations (recompute)" : "activations", peak,
               recompute ? a.recompute : a.full, 0.8, 1.2);
    EXPECT_EQ(st.activations, recompute ? a.recompute : a.full);
  }
}

// The slot-order copy of the expert rows is counted only where it exists:
// with a capacity or expert parallelism, per MoE layer N*K*C floats.
TEST(MemoryPlanTest, SlotOrderRowsCountedOnlyWithCapacityOrExpertParallelism) {
  config::RunConfig run = SmallRun(4, 32, false);
  const models::DeepseekV2Config plain = config::ToModelConfig(run);
  run.mutable_parallel()->set_capacity_factor(2.0);
  const models::DeepseekV2Config capped = config::ToModelConfig(run);
  const int64_t moe_layers = 2, N = 4 * 32, K = 2, C = 64;
  const int64_t per_layer = N * K * C * 4;
  // Saved by both MoE layers, plus the backward scratch's two thirds of the
  // largest block (a MoE block here).
  const double want = moe_layers * per_layer + 2.0 * per_layer / 3;
  const ActivationBytes a = EstimateActivationBytes(plain, 0, 3, true, true, 4, 32);
  const ActivationBytes b = EstimateActivationBytes(capped, 0, 3, true, true, 4, 32);
  const ActivationBytes e = EstimateActivationBytes(plain, 0, 3, true, true, 4, 32, true);
  EXPECT_NEAR(double(b.full - a.full), want, 1.0);
  EXPECT_NEAR(double(e.full - a.full), want, 1.0);
}

// The plan counts parameters from the shapes; they must equal what the
// model registers, with and without q_lora, for every stage split.
TEST(MemoryPlanTest, ParameterCountsEqualTheModels) {
  for (int64_t q_lora : {48, 0}) {
    config::RunConfig run = SmallRun(1, 32, false);
    run.mutable_model()->set_q_lora_rank(q_lora);
    const models::DeepseekV2Config mc = config::ToModelConfig(run);
    for (auto [first, end] : {std::pair{0, 3}, std::pair{0, 1}, std::pair{1, 3}, std::pair{2, 3}}) {
      auto specs = models::DeepseekV2Model::ParameterSpecs(
          mc, {.first_layer = first, .end_layer = end});
      ASSERT_TRUE(specs.ok()) << specs.status();
      ParamCounts want;
      for (const auto& p : *specs) {
        (p.expert >= 0 ? want.routed : want.dense) += p.numel;
        want.largest = std::max(want.largest, p.numel);
      }
      const ParamCounts got = CountStageParams(mc, first, end, first == 0, end == 3);
      EXPECT_EQ(got.dense, want.dense) << q_lora << " " << first << "-" << end;
      EXPECT_EQ(got.routed, want.routed) << q_lora << " " << first << "-" << end;
      EXPECT_EQ(got.largest, want.largest) << q_lora << " " << first << "-" << end;
    }
  }
  // The largest configuration validation allows plans at once.
  config::RunConfig run = SmallRun(1, 32, false);
  run.mutable_model()->set_num_hidden_layers(10000);
  run.mutable_model()->set_n_routed_experts(65536);
  auto plan = PlanTrainingMemory(run, {.world_size = 1});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->CheckFits(int64_t{24} << 30, "test machine").ok());
}

TEST(MemoryPlanTest, InferenceActivationsMatchMeasured) {
  const config::RunConfig run = SmallRun(4, 32, false);
  const models::DeepseekV2Config mc = config::ToModelConfig(run);
  auto model = models::DeepseekV2Model::CreateForInference(mc, {.seed = 1, .max_seq_len = 32});
  ASSERT_TRUE(model.ok());
  const int64_t B = 4, T = 32;
  auto tok = Tokens(B * T + 1, 512);
  const int64_t base = Live();
  ResetCpuPeakBytes();
  ASSERT_TRUE((*model)->Forward(tok.data(), tok.data() + 1, B, T).ok());
  const int64_t peak = GetCpuCacheStats().peak_live_bytes - base;
  const ActivationBytes a = EstimateActivationBytes(mc, 0, 3, true, true, B, T);
  ExpectNear("inference activations", peak, a.inference, 0.8, 1.2);
  // And far below a training forward's.
  EXPECT_LT(a.inference, a.full / 2);
}

TEST(MemoryPlanTest, ZeroOneShardsOptimizerStateAndPipelineSplitsLayers) {
  config::RunConfig run = SmallRun(1, 32, false);
  auto one = PlanTrainingMemory(run, {.world_size = 4});
  run.mutable_parallel()->set_zero_stage(1);
  auto zero = PlanTrainingMemory(run, {.world_size = 4});
  ASSERT_TRUE(one.ok() && zero.ok()) << one.status() << zero.status();
  const StageMemory &a = one->stages[0], &b = zero->stages[0];
  EXPECT_EQ(a.optimizer, a.optimizer_unsharded);
  EXPECT_NEAR(double(b.optimizer), double(a.optimizer) / 4, 64.0);
  EXPECT_GT(b.comm, a.comm);  // ZeRO-1's bucket buffers
  EXPECT_EQ(a.params, b.params);
  EXPECT_TRUE(a.grads_shared);  // HFReduce registered gradients by default
  EXPECT_EQ(one->machine_total(), 4 * a.total());

  // Node-shared parameters: 2 ranks per node hold one copy and split the
  // optimizer state between them.
  run.mutable_parallel()->set_zero_stage(0);
  run.mutable_parallel()->set_node_shared_params(true);
  run.mutable_parallel()->set_ranks_per_node(2);
  auto shared = PlanTrainingMemory(run, {.world_size = 4});
  ASSERT_TRUE(shared.ok()) << shared.status();
  const StageMemory& c = shared->stages[0];
  EXPECT_TRUE(c.params_shared);
  EXPECT_NEAR(double(c.params), double(a.params) / 2, 64.0);
  EXPECT_NEAR(double(c.optimizer), double(a.optimizer) / 2, 64.0);
  EXPECT_EQ(c.optimizer_unsharded, a.optimizer_unsharded);
  EXPECT_NE(shared->Format().find("parameters (node-shared, share)"), std::string::npos);
  run.mutable_parallel()->set_node_shared_params(false);
  run.mutable_parallel()->set_ranks_per_node(0);

  run.mutable_parallel()->set_pp(3);
  auto pp = PlanTrainingMemory(run, {.world_size = 3});
  ASSERT_TRUE(pp.ok()) << pp.status();
  ASSERT_EQ(pp->stages.size(), 3u);
  int64_t params = 0;
  for (const StageMemory& s : pp->stages) params += s.params;
  EXPECT_NEAR(double(params), double(a.params), 3 * 64.0);
  // 1F1B: the first stage keeps pp micro-batches, the last one.
  EXPECT_EQ(pp->stages[0].micro_batches_in_flight, 3);
  EXPECT_EQ(pp->stages[2].micro_batches_in_flight, 1);
  EXPECT_NE(pp->Format().find("stage"), std::string::npos);
}

TEST(MemoryPlanTest, RefusesARunTheMachineCannotHold) {
  config::RunConfig run = SmallRun(1, 32, false);
  run.mutable_model()->set_vocab_size(50000000);  // 3.2e9 parameters x 16 bytes
  auto plan = PlanTrainingMemory(run, {.world_size = 2});  // plans without allocating
  ASSERT_TRUE(plan.ok()) << plan.status();
  const absl::Status s = plan->CheckFits(int64_t{24} << 30, "test machine");
  ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  const std::string m(s.message());
  EXPECT_NE(m.find("2 rank(s) on this machine need an estimated"), std::string::npos) << m;
  EXPECT_NE(m.find(FormatBytes(plan->machine_total())), std::string::npos) << m;
  EXPECT_NE(m.find("the machine has 24.00 GiB (test machine)"), std::string::npos) << m;
  EXPECT_NE(m.find("train.recompute"), std::string::npos) << m;
  EXPECT_TRUE(SmallRun(1, 32, false).IsInitialized());
  auto small = PlanTrainingMemory(SmallRun(1, 32, false), {.world_size = 1});
  ASSERT_TRUE(small.ok());
  EXPECT_TRUE(small->CheckFits(int64_t{24} << 30, "test machine").ok());
  std::string source;
  EXPECT_GT(MachineMemory(&source), 0);
  EXPECT_FALSE(source.empty());
}

}  // namespace
}  // namespace hs::train
