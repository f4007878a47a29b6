// Trainer's device path (train.device CUDA) driven by the host test engine
// (host_step_engine.h): the loop, loss normalisation, clipping and AdamW
// through a StepEngine give bit-identical losses to the CPU path; a run
// checkpointed and resumed through the engine continues exactly; the
// weights written come from the engine's parameters. (Multi-rank: the
// tests/parity engine cases.)
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "gtest/gtest.h"
#include "haiscale/config/config.h"
#include "haiscale/train/host_step_engine.h"
#include "haiscale/train/trainer.h"

namespace hs::train {
namespace {

namespace fs = std::filesystem;

const bool kRegistered = RegisterHostStepEngine("CUDA");

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path p = fs::path(base ? base : "/tmp") / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

config::RunConfig TinyRun(const std::string& dir, const std::string& data, bool device) {
  auto cfg = config::ParseConfigText(R"pb(
    model {
      vocab_size: 256 hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 16
      num_hidden_layers: 2 num_attention_heads: 2 kv_lora_rank: 16 q_lora_rank: 24
      qk_nope_head_dim: 8 qk_rope_head_dim: 8 v_head_dim: 8
      first_k_dense_replace: 1 n_routed_experts: 4 num_experts_per_tok: 2 n_shared_experts: 1
      aux_loss_alpha: 0.01 max_position_embeddings: 64 initializer_range: 0.05
    }
    train { seed: 3 steps: 8 global_batch_size: 4 micro_batch_size: 2 seq_len: 32 threads: 1 }
    optimizer { type: ADAMW lr: 5e-3 weight_decay: 0.1 grad_clip: 0.5 }
    schedule { type: WARMUP_COSINE warmup_steps: 2 }
    data { shuffle: true }
  )pb", "tiny");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  cfg->mutable_train()->set_output_dir(dir);
  cfg->mutable_data()->set_train_path(data);
  if (device) cfg->mutable_train()->set_device(config::TrainConfig::CUDA);
  FillDefaults(&*cfg);
  return *cfg;
}

std::string Corpus(const std::string& dir) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "pack my box with five dozen liquor jugs. ";
  const std::string path = dir + "/corpus.bin";
  EXPECT_TRUE(data::WriteTokensFromText(text, path).ok());
  return path;
}

TEST(TrainerEngineTest, EnginePathMatchesCpuPathBitForBit) {
  ASSERT_TRUE(kRegistered);
  const std::string dir = TempDir("engine_bits");
  const std::string data = Corpus(dir);
  std::vector<double> losses[2];
  std::vector<float> params[2];
  for (int device = 0; device < 2; ++device) {
    auto t = Trainer::Create(TinyRun(dir + "/run" + std::to_string(device), data, device),
                             {.write_outputs = false, .quiet = true});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run().ok());
    losses[device] = (*t)->losses();
    ASSERT_TRUE((*t)->SyncHostModel().ok());
    const models::ParamArena& a = (*t)->model().arena();
    params[device].assign(a.params(), a.params() + a.size());
  }
  ASSERT_EQ(losses[0].size(), 8u);
  EXPECT_EQ(losses[0], losses[1]);
  EXPECT_EQ(params[0], params[1]);
  EXPECT_LT(losses[1].back(), losses[1].front());
}

TEST(TrainerEngineTest, CheckpointAndResumeThroughTheEngine) {
  ASSERT_TRUE(kRegistered);
  const std::string dir = TempDir("engine_resume");
  const std::string data = Corpus(dir);
  // Uninterrupted reference.
  auto ref = Trainer::Create(TinyRun(dir + "/ref", data, true), {.quiet = true});
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_TRUE((*ref)->Run().ok());
  // Preempted after 3 steps (checkpoint = engine state copied to the host),
  // then resumed by a new trainer (checkpoint loaded into a new engine).
  auto first = Trainer::Create(TinyRun(dir + "/run", data, true),
                               {.quiet = true, .preempt_after_steps = 3});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::Status s = (*first)->Run();
  ASSERT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  auto second = Trainer::Create(TinyRun(dir + "/run", data, true), {.quiet = true});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->start_step(), 3);
  ASSERT_TRUE((*second)->Run().ok());
  std::vector<double> resumed = (*first)->losses();
  resumed.insert(resumed.end(), (*second)->losses().begin(), (*second)->losses().end());
  EXPECT_EQ(resumed, (*ref)->losses());
  // The weight files hold the engine's final parameters.
  EXPECT_TRUE(fs::exists(dir + "/run/weights/model.safetensors"));
  EXPECT_EQ(fs::file_size(dir + "/run/weights/model.safetensors"),
            fs::file_size(dir + "/ref/weights/model.safetensors"));
}

TEST(TrainerEngineTest, RefusesWhatTheDevicePathDoesNotDo) {
  const std::string dir = TempDir("engine_refuse");
  const std::string data = Corpus(dir);
  config::RunConfig cfg = TinyRun(dir + "/run", data, true);
  cfg.mutable_parallel()->set_zero_stage(1);
  auto t = Trainer::Create(cfg, {.quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("train.device"), std::string::npos) << t.status();
  auto dump = Trainer::Create(TinyRun(dir + "/run2", data, true),
                              {.quiet = true, .dump_grads_dir = dir + "/g"});
  ASSERT_FALSE(dump.ok());
  EXPECT_NE(dump.status().message().find("--dump-grads"), std::string::npos) << dump.status();
}

}  // namespace
}  // namespace hs::train
