// Trainer's device path (train.device CUDA) driven by the host test engine
// (host_step_engine.h): the loop, loss normalisation, clipping and AdamW
// through a StepEngine give bit-identical losses to the CPU path; a run
// checkpointed and resumed through the engine continues exactly; the
// weights written come from the engine's parameters. (Multi-rank: the
// tests/parity engine cases.)
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/config/config.h"
#include "haiscale/train/host_step_engine.h"
#include "haiscale/train/test_util.h"
#include "haiscale/train/trainer.h"

namespace hs::train {
namespace {

namespace fs = std::filesystem;

const bool kRegistered = RegisterHostStepEngine("CUDA");

using testing::TempDir;

// The trainer tests' tiny run, with gradient accumulation (2 micro-batches),
// weight decay and a clip that bites, so every part of the step counts.
config::RunConfig TinyRun(const std::string& dir, const std::string& data, bool device) {
  config::RunConfig cfg = testing::TinyRun(dir, data);
  cfg.mutable_train()->set_seed(3);
  cfg.mutable_train()->set_steps(8);
  cfg.mutable_train()->set_micro_batch_size(2);
  cfg.mutable_model()->set_aux_loss_alpha(0.01);
  cfg.mutable_optimizer()->set_weight_decay(0.1);
  cfg.mutable_optimizer()->set_grad_clip(0.5);
  cfg.mutable_schedule()->set_warmup_steps(2);
  if (device) cfg.mutable_train()->set_device(config::TrainConfig::CUDA);
  config::FillDefaults(&cfg);
  return cfg;
}

std::string Corpus(const std::string& dir) {
  return testing::RepeatedTextCorpus(dir + "/corpus.bin",
                                     "pack my box with five dozen liquor jugs. ", 300);
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
