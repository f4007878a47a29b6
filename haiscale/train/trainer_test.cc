// Trainer tests: loss falls by a large margin on a small repetitive corpus
// within a bounded number of steps; the same config and seed give
// bit-identical losses; gradient accumulation matches one big batch; the
// run directory gets config.pbtxt, metrics.jsonl and HF-layout weights.
#include "haiscale/train/trainer.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/sampler.h"
#include "data/token_file.h"
#include "gtest/gtest.h"
#include "haiscale/config/config.h"
#include "haiscale/train/test_util.h"

namespace hs::train {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;
using testing::TinyRun;

std::string RepetitiveCorpus(const std::string& dir) {
  return testing::RepeatedTextCorpus(dir + "/corpus.bin",
                                     "the quick brown fox jumps over the lazy dog. ", 400);
}

TEST(TrainerTest, LossFallsOnRepetitiveCorpus) {
  std::string dir = TempDir("trainer_loss");
  auto trainer = Trainer::Create(TinyRun(dir + "/run", RepetitiveCorpus(dir)), {.quiet = true});
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->Run().ok());
  const auto& l = (*trainer)->losses();
  ASSERT_EQ(l.size(), 60u);
  EXPECT_NEAR(l.front(), std::log(256.0), 0.3);  // starts near uniform
  // The sentence repeats: a 2-layer model learns most of it in 60 steps.
  EXPECT_LT(l.back(), 0.5 * l.front()) << "first " << l.front() << " last " << l.back();
  // Run directory contents.
  EXPECT_TRUE(fs::exists(dir + "/run/config.pbtxt"));
  EXPECT_TRUE(fs::exists(dir + "/run/weights/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/run/weights/config.json"));
  EXPECT_TRUE(fs::exists(dir + "/run/train.log"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoints/latest"));
  int event_files = 0;
  for (const auto& e : fs::directory_iterator(dir + "/run"))
    event_files += e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_EQ(event_files, 1);
  std::ifstream jsonl(dir + "/run/metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(jsonl, line)) {
    ++lines;
    for (const char* key : {"\"step\"", "\"loss\"", "\"aux_loss\"", "\"lr\"", "\"grad_norm\"",
                            "\"tokens_per_s\""})
      EXPECT_NE(line.find(key), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 60);
  // The saved config copy parses back.
  EXPECT_TRUE(config::LoadConfig(dir + "/run/config.pbtxt").ok());
}

TEST(TrainerTest, SameSeedGivesBitIdenticalLosses) {
  std::string dir = TempDir("trainer_det");
  std::string data = RepetitiveCorpus(dir);
  std::vector<double> runs[2];
  for (int r = 0; r < 2; ++r) {
    config::RunConfig cfg = TinyRun(dir + "/run" + std::to_string(r), data);
    cfg.mutable_train()->set_steps(8);
    auto t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run().ok());
    runs[r] = (*t)->losses();
  }
  EXPECT_EQ(runs[0], runs[1]);
}

TEST(TrainerTest, GradientAccumulationMatchesOneBatch) {
  std::string dir = TempDir("trainer_accum");
  std::string data = RepetitiveCorpus(dir);
  std::vector<double> runs[2];
  for (int r = 0; r < 2; ++r) {
    config::RunConfig cfg = TinyRun(dir + "/run", data);
    cfg.mutable_train()->set_steps(5);
    cfg.mutable_train()->set_micro_batch_size(r == 0 ? 4 : 1);
    auto t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run().ok());
    runs[r] = (*t)->losses();
  }
  for (size_t i = 0; i < runs[0].size(); ++i) EXPECT_NEAR(runs[0][i], runs[1][i], 1e-4 * runs[0][i]);
}

// train.eval_every: metrics.jsonl gets eval_loss on steps 10, 20 and the
// last; the value equals the mean CE of the trained model over the eval
// file's first eval_batches x global_batch rows (computed here directly),
// and it falls as the model learns the repeated sentence.
TEST(TrainerTest, PeriodicEvaluationOnHeldOutFile) {
  std::string dir = TempDir("trainer_eval");
  std::string data = RepetitiveCorpus(dir);
  const std::string eval_path = testing::RepeatedTextCorpus(
      dir + "/eval.bin", "the lazy dog jumps over the quick brown fox. ", 40);
  config::RunConfig cfg = TinyRun(dir + "/run", data);
  cfg.mutable_train()->set_steps(25);
  cfg.mutable_train()->set_eval_every(10);
  cfg.mutable_train()->set_eval_batches(3);  // 12 rows; the file has 54
  cfg.mutable_data()->set_eval_path(eval_path);
  auto t = Trainer::Create(cfg, {.quiet = true});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->Run().ok());

  std::ifstream jsonl(dir + "/run/metrics.jsonl");
  std::string line;
  std::vector<int> eval_steps;
  std::vector<double> eval_losses;
  int step = 0;
  while (std::getline(jsonl, line)) {
    ++step;
    const size_t k = line.find("\"eval_loss\": ");
    if (k == std::string::npos) continue;
    eval_steps.push_back(step);
    eval_losses.push_back(std::stod(line.substr(k + 13)));
    EXPECT_NE(line.find("\"eval_tokens\": 384"), std::string::npos) << line;  // 12 x 32
  }
  EXPECT_EQ(eval_steps, (std::vector<int>{10, 20, 25}));
  ASSERT_EQ(eval_losses.size(), 3u);
  EXPECT_LT(eval_losses[2], eval_losses[0]);

  // The same number, computed directly from the final parameters.
  auto file = data::TokenFile::Open(eval_path);
  ASSERT_TRUE(file.ok());
  auto rows = data::EvalRows::Create(file->get(), 32, 12);
  ASSERT_TRUE(rows.ok());
  std::vector<int32_t> in(12 * 32), tg(12 * 32);
  ASSERT_TRUE(rows->FillRows(0, 12, in.data(), tg.data()).ok());
  auto f = (*t)->model().Forward(in.data(), tg.data(), 12, 32);
  ASSERT_TRUE(f.ok());
  EXPECT_NEAR(eval_losses[2], f->ce_sum / f->valid_tokens, 1e-5 * eval_losses[2]);
  auto again = (*t)->Evaluate();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tokens, 384);
  EXPECT_NEAR(again->loss, eval_losses[2], 1e-6 * eval_losses[2]);
}

TEST(TrainerTest, MissingEvalFileNamesField) {
  std::string dir = TempDir("trainer_eval_missing");
  config::RunConfig cfg = TinyRun(dir, RepetitiveCorpus(dir));
  cfg.mutable_train()->set_eval_every(5);
  cfg.mutable_data()->set_eval_path(dir + "/absent.bin");
  auto t = Trainer::Create(cfg, {.quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("data.eval_path"), std::string::npos) << t.status();
  EXPECT_NE(t.status().message().find("absent.bin"), std::string::npos) << t.status();
}

// This binary links no StepEngine: train.device CUDA is refused by name.
TEST(TrainerTest, DeviceWithoutEngineNamesTheBuild) {
  std::string dir = TempDir("trainer_no_engine");
  config::RunConfig cfg = TinyRun(dir, RepetitiveCorpus(dir));
  cfg.mutable_train()->set_device(config::TrainConfig::CUDA);
  auto t = Trainer::Create(cfg, {.quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition) << t.status();
  EXPECT_NE(t.status().message().find("train.device: CUDA"), std::string::npos) << t.status();
  EXPECT_NE(t.status().message().find("hai_cuda"), std::string::npos) << t.status();
}

TEST(TrainerTest, MissingDataFileNamesIt) {
  std::string dir = TempDir("trainer_missing");
  auto t = Trainer::Create(TinyRun(dir, dir + "/nope.bin"), {.quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("nope.bin"), std::string::npos) << t.status();
}

TEST(TrainerTest, InvalidConfigNamesField) {
  std::string dir = TempDir("trainer_bad");
  config::RunConfig cfg = TinyRun(dir, RepetitiveCorpus(dir));
  cfg.mutable_model()->set_num_experts_per_tok(9);
  auto t = Trainer::Create(cfg, {.quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("num_experts_per_tok"), std::string::npos) << t.status();
}

}  // namespace
}  // namespace hs::train
