// SFT objective tests: masked tokens contribute nothing to the gradient
// (the masked loss's gradient is the full loss's minus the prompt tokens',
// and matches finite differences); an SFT run on packed rows learns the
// answers (loss falls, token accuracy rises, both logged); gradient
// accumulation gives the same losses as one micro-batch, although the
// micro-batches hold different numbers of trained tokens.
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "data/post/post_data.h"
#include "data/post/rows_file.h"
#include "gtest/gtest.h"
#include "haiscale/config/config.h"
#include "haiscale/config/model_config_convert.h"
#include "haiscale/train/test_util.h"
#include "haiscale/train/trainer.h"
#include "models/deepseek_v2.h"

namespace hs::train {
namespace {

using testing::TempDir;
using testing::TinyRun;

// Examples "abcd=" -> "dcba\n": 4 prompt letters, trained reversal + newline.
std::vector<data::post::TokenizedExample> ReversalExamples(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<data::post::TokenizedExample> out;
  for (int e = 0; e < n; ++e) {
    data::post::TokenizedExample ex;
    std::vector<int32_t> letters;
    for (int i = 0; i < 4; ++i) letters.push_back('a' + int32_t(rng() % 6));
    for (int32_t c : letters) ex.ids.push_back(c);
    ex.ids.push_back('=');
    ex.trained.assign(ex.ids.size(), 0);
    for (int i = 3; i >= 0; --i) ex.ids.push_back(letters[i]);
    ex.ids.push_back('\n');
    ex.trained.resize(ex.ids.size(), 1);
    out.push_back(ex);
  }
  return out;
}

std::string WriteSftRows(const std::string& dir, int n, uint64_t seed) {
  data::post::PackStats stats;
  data::post::PostRows rows =
      data::post::PackBestFitDecreasing(ReversalExamples(n, seed), 32, 256, false, &stats);
  EXPECT_TRUE(data::post::WritePostRows(dir, rows, data::post::PackSummary(rows, stats)).ok());
  return dir;
}

config::RunConfig SftRun(const std::string& dir, const std::string& rows) {
  config::RunConfig cfg = TinyRun(dir, rows);
  cfg.mutable_objective()->set_type(config::ObjectiveConfig::SFT);
  return cfg;
}

std::unique_ptr<models::DeepseekV2Model> DenseModel() {
  auto cfg = config::ParseConfigText(R"pb(
    model {
      vocab_size: 64 hidden_size: 16 intermediate_size: 24
      num_hidden_layers: 1 num_attention_heads: 2 kv_lora_rank: 8 q_lora_rank: 12
      qk_nope_head_dim: 4 qk_rope_head_dim: 4 v_head_dim: 4
      first_k_dense_replace: 1 max_position_embeddings: 32 initializer_range: 0.2
    })pb", "dense");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  auto m = models::DeepseekV2Model::Create(config::ToModelConfig(cfg->model()),
                                           {.seed = 3, .max_seq_len = 16});
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

std::vector<float> Gradient(models::DeepseekV2Model& m, const std::vector<int32_t>& tokens,
                            const std::vector<int32_t>& targets, float scale, double* loss) {
  m.arena().ZeroGrads();
  auto r = m.Forward(tokens.data(), targets.data(), 1, int64_t(tokens.size()));
  EXPECT_TRUE(r.ok()) << r.status();
  *loss = r->ce_sum * scale;
  EXPECT_TRUE(m.Backward(scale, 0.0f).ok());
  return std::vector<float>(m.arena().grads(), m.arena().grads() + m.arena().size());
}

TEST(SftMaskTest, MaskedTokensContributeNothing) {
  auto model = DenseModel();
  std::vector<int32_t> tokens, full, answer, prompt;
  for (int i = 0; i < 12; ++i) tokens.push_back((7 * i + 3) % 64);
  for (int i = 0; i < 12; ++i) {
    const int32_t next = i + 1 < 12 ? tokens[i + 1] : 5;
    const bool trained = i >= 6;  // the last 6 targets are the "answer"
    full.push_back(next);
    answer.push_back(trained ? next : -1);
    prompt.push_back(trained ? -1 : next);
  }
  double l_full, l_answer, l_prompt;
  const std::vector<float> g_full = Gradient(*model, tokens, full, 1.0f, &l_full);
  const std::vector<float> g_answer = Gradient(*model, tokens, answer, 1.0f / 6, &l_answer);
  const std::vector<float> g_prompt = Gradient(*model, tokens, prompt, 1.0f, &l_prompt);
  // Summed losses: full = answer + prompt, so the masked gradient is
  // exactly the rest: nothing comes from the masked targets.
  double max_abs = 0;
  for (size_t i = 0; i < g_full.size(); ++i) {
    max_abs = std::max(max_abs, std::abs(double(g_full[i])));
    EXPECT_NEAR(6.0 * g_answer[i], g_full[i] - g_prompt[i], 1e-5 + 1e-4 * std::abs(g_full[i]))
        << "parameter " << i;
  }
  ASSERT_GT(max_abs, 0);
  // Finite differences of the masked mean loss along the gradient.
  float* p = model->arena().params();
  double gg = 0;
  for (float g : g_answer) gg += double(g) * g;
  const double h = 1e-2 / std::sqrt(gg);
  std::vector<float> saved(p, p + g_answer.size());
  double plus, minus;
  for (size_t i = 0; i < g_answer.size(); ++i) p[i] = saved[i] + float(h * g_answer[i]);
  Gradient(*model, tokens, answer, 1.0f / 6, &plus);
  for (size_t i = 0; i < g_answer.size(); ++i) p[i] = saved[i] - float(h * g_answer[i]);
  Gradient(*model, tokens, answer, 1.0f / 6, &minus);
  EXPECT_NEAR((plus - minus) / (2 * h), gg, 2e-2 * gg);
}

std::vector<double> MetricValues(const std::string& jsonl, const std::string& key) {
  std::ifstream in(jsonl);
  std::string line;
  std::vector<double> out;
  while (std::getline(in, line)) {
    const size_t k = line.find("\"" + key + "\": ");
    EXPECT_NE(k, std::string::npos) << key << " missing in " << line;
    if (k != std::string::npos) out.push_back(std::stod(line.substr(k + key.size() + 4)));
  }
  return out;
}

TEST(SftTrainerTest, LearnsTheAnswersAndLogsAccuracy) {
  const std::string dir = TempDir("sft_learn");
  const std::string rows = WriteSftRows(dir + "/rows", 96, 1);
  config::RunConfig cfg = SftRun(dir + "/run", rows);
  cfg.mutable_train()->set_steps(60);
  auto t = Trainer::Create(cfg, {.quiet = true});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->Run().ok());
  const auto& l = (*t)->losses();
  ASSERT_EQ(l.size(), 60u);
  EXPECT_LT(l.back(), 0.5 * l.front()) << l.front() << " -> " << l.back();
  const std::vector<double> acc = MetricValues(dir + "/run/metrics.jsonl", "token_accuracy");
  const std::vector<double> trained = MetricValues(dir + "/run/metrics.jsonl", "trained_tokens");
  ASSERT_EQ(acc.size(), 60u);
  EXPECT_GT(acc.back(), acc.front() + 0.3);
  // 4 rows of up to 3 examples x 5 trained targets each.
  for (double n : trained) {
    EXPECT_GE(n, 5);
    EXPECT_LE(n, 60);
  }
}

TEST(SftTrainerTest, AccumulationNormalisesByTheGlobalBatch) {
  const std::string dir = TempDir("sft_accum");
  // 7 examples: rows with 3, 3 and 1 examples, so micro-batches of one row
  // hold 15, 15 or 5 trained tokens.
  const std::string rows = WriteSftRows(dir + "/rows", 7, 2);
  std::vector<double> runs[2];
  for (int r = 0; r < 2; ++r) {
    config::RunConfig cfg = SftRun(dir + "/run", rows);
    cfg.mutable_train()->set_steps(5);
    cfg.mutable_train()->set_global_batch_size(2);
    cfg.mutable_train()->set_micro_batch_size(r == 0 ? 2 : 1);
    auto t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run().ok());
    runs[r] = (*t)->losses();
  }
  ASSERT_EQ(runs[0].size(), 5u);
  for (size_t i = 0; i < runs[0].size(); ++i) EXPECT_NEAR(runs[0][i], runs[1][i], 1e-4 * runs[0][i]);
}

TEST(SftTrainerTest, PreemptedAndResumedRunEqualsTheWholeRun) {
  const std::string dir = TempDir("sft_resume");
  const std::string rows = WriteSftRows(dir + "/rows", 30, 3);
  config::RunConfig whole_cfg = SftRun(dir + "/whole", rows);
  whole_cfg.mutable_train()->set_steps(6);
  auto whole = Trainer::Create(whole_cfg, {.quiet = true, .resume = false});
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_TRUE((*whole)->Run().ok());
  config::RunConfig cfg = SftRun(dir + "/split", rows);
  cfg.mutable_train()->set_steps(6);
  auto first = Trainer::Create(cfg, {.quiet = true, .resume = false, .preempt_after_steps = 2});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ((*first)->Run().code(), absl::StatusCode::kCancelled);
  auto second = Trainer::Create(cfg, {.quiet = true, .resume = true});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ((*second)->start_step(), 2);
  ASSERT_TRUE((*second)->Run().ok());
  std::vector<double> resumed = (*first)->losses();
  resumed.insert(resumed.end(), (*second)->losses().begin(), (*second)->losses().end());
  EXPECT_EQ(resumed, (*whole)->losses());
}

TEST(SftTrainerTest, WrongDataIsNamed) {
  const std::string dir = TempDir("sft_bad");
  config::RunConfig cfg = SftRun(dir + "/run", dir);  // no rows.hpr
  auto t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("data.train_path: '" + dir + "' is not a SFT dataset"),
            std::string::npos)
      << t.status();
  const std::string rows = WriteSftRows(dir + "/rows", 7, 2);
  cfg = SftRun(dir + "/run", rows);
  cfg.mutable_train()->set_seq_len(16);
  t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("rows of 32 positions, train.seq_len is 16"),
            std::string::npos)
      << t.status();
}

}  // namespace
}  // namespace hs::train
