// DPO objective tests: the pair terms against a float64 hand computation
// (loss, rewards, derivatives by finite differences, label smoothing); a
// DPO run's first step has loss log 2 and zero rewards (policy ==
// reference); its step loss and gradient equal a float64 computation from
// per-sequence forwards (finite differences of the DPO loss along the
// gradient), with and without the RPO term (α × the chosen completions'
// NLL, whose per-row loss weights also match finite differences); the
// reference log-probabilities are those of the initial weights and never
// change while the policy trains; the rewards margin grows as it learns.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "data/post/post_data.h"
#include "data/post/rows_file.h"
#include "gtest/gtest.h"
#include "haiscale/config/model_config_convert.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/posttrain/dpo_reference.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/train/objective_post.h"
#include "haiscale/train/test_util.h"
#include "haiscale/train/trainer.h"

namespace hs::train {
namespace {

using testing::TempDir;
using testing::TinyRun;

TEST(DpoTermsTest, MatchesHandComputation) {
  // Δ = 0.1 [(-3 - -4) - (-5 - -4)] = 0.2
  DpoPairTerms t = DpoTerms(-3, -5, -4, -4, 0.1, 0.0);
  EXPECT_NEAR(t.reward_chosen, 0.1, 1e-15);
  EXPECT_NEAR(t.reward_rejected, -0.1, 1e-15);
  EXPECT_NEAR(t.loss, std::log1p(std::exp(-0.2)), 1e-15);
  // Conservative DPO, ε = 0.2.
  t = DpoTerms(-3, -5, -4, -4, 0.1, 0.2);
  EXPECT_NEAR(t.loss, 0.8 * std::log1p(std::exp(-0.2)) + 0.2 * std::log1p(std::exp(0.2)), 1e-15);
  // Derivatives by central differences, both signs of Δ, large |Δ|.
  for (double eps : {0.0, 0.1}) {
    for (auto [pc, pr] : {std::pair{-3.0, -5.0}, std::pair{-9.0, -2.0}, std::pair{-400.0, -2.0}}) {
      const DpoPairTerms x = DpoTerms(pc, pr, -4, -4, 0.5, eps);
      const double h = 1e-5;
      const double dc = (DpoTerms(pc + h, pr, -4, -4, 0.5, eps).loss -
                         DpoTerms(pc - h, pr, -4, -4, 0.5, eps).loss) / (2 * h);
      const double dr = (DpoTerms(pc, pr + h, -4, -4, 0.5, eps).loss -
                         DpoTerms(pc, pr - h, -4, -4, 0.5, eps).loss) / (2 * h);
      EXPECT_NEAR(x.dloss_dchosen, dc, 1e-8);
      EXPECT_NEAR(x.dloss_drejected, dr, 1e-8);
      EXPECT_TRUE(std::isfinite(x.loss));
    }
  }
}

TEST(DpoTermsTest, RowScalesWithRpoMatchFiniteDifferences) {
  // The loss over 4 pairs with α = 0.5 and 10 chosen completion tokens, as
  // a function of one pair's two row cross-entropies (logp = -CE).
  const double alpha = 0.5, ref_c = -4, ref_r = -4.5;
  auto loss = [&](double ce_c, double ce_r) {
    return DpoTerms(-ce_c, -ce_r, ref_c, ref_r, 0.3, 0.1).loss / 4 + alpha * ce_c / 10;
  };
  const DpoPairTerms t = DpoTerms(-3, -5, ref_c, ref_r, 0.3, 0.1);
  const DpoRowScales s = DpoCeScales(t, 4, alpha, 10);
  const double h = 1e-5;
  EXPECT_NEAR(s.chosen, (loss(3 + h, 5) - loss(3 - h, 5)) / (2 * h), 1e-9);
  EXPECT_NEAR(s.rejected, (loss(3, 5 + h) - loss(3, 5 - h)) / (2 * h), 1e-9);
  // By hand: α / tokens on top of the plain DPO weight, none on the rejected.
  const DpoRowScales plain = DpoCeScales(t, 4, 0, 10);
  EXPECT_DOUBLE_EQ(s.chosen - plain.chosen, 0.05);
  EXPECT_EQ(s.rejected, plain.rejected);
  EXPECT_DOUBLE_EQ(plain.chosen, -t.dloss_dchosen / 4);
}

// Pairs "abc=" -> chosen "cba\n", rejected "abc\n" (or, with `easy`,
// chosen "y\n", rejected "n\n").
std::string WriteDpoRows(const std::string& dir, int n, bool easy = false, uint64_t seed = 4) {
  std::mt19937_64 rng(seed);
  std::vector<data::post::TokenizedPair> pairs;
  for (int e = 0; e < n; ++e) {
    data::post::TokenizedPair p;
    std::vector<int32_t> l;
    for (int i = 0; i < 3; ++i) l.push_back('a' + int32_t(rng() % 5));
    p.prompt = {l[0], l[1], l[2], '='};
    p.chosen = {l[2], l[1], l[0], '\n'};
    p.rejected = {l[0], l[1], l[2], '\n'};
    if (easy) {
      p.chosen = {'y', '\n'};
      p.rejected = {'n', '\n'};
    }
    pairs.push_back(p);
  }
  data::post::PackStats stats;
  data::post::PostRows rows = data::post::PairRows(pairs, 32, 256, &stats);
  EXPECT_TRUE(data::post::WritePostRows(dir, rows, data::post::PackSummary(rows, stats)).ok());
  return dir;
}

config::RunConfig DpoRun(const std::string& dir, const std::string& rows) {
  config::RunConfig cfg = TinyRun(dir, rows);
  cfg.mutable_objective()->set_type(config::ObjectiveConfig::DPO);
  cfg.mutable_objective()->set_dpo_beta(0.5);
  cfg.mutable_data()->set_shuffle(false);
  cfg.mutable_optimizer()->set_grad_clip(0);
  return cfg;
}

// Per-row log-probabilities of `model` on the dataset rows, one pair per
// forward (the shape of DPO's passes, so the bits are the trainer's).
std::vector<double> RowLogps(models::DeepseekV2Model& model, const data::post::PostRows& rows) {
  std::vector<double> out;
  const int64_t S = rows.seq_len;
  for (int64_t r = 0; r + 1 < rows.num_rows(); r += 2) {
    auto f = model.Forward(rows.tokens.data() + r * S, rows.targets.data() + r * S, 2, S,
                           rows.positions.data() + r * S);
    EXPECT_TRUE(f.ok()) << f.status();
    out.push_back(-f->row_ce_sum[0]);
    out.push_back(-f->row_ce_sum[1]);
  }
  return out;
}

std::vector<double> ReadReference(const std::string& path) {
  auto bytes = io::ReadFileToString(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  std::vector<double> v(bytes->size() / sizeof(double));
  std::memcpy(v.data(), bytes->data(), bytes->size());
  return v;
}

// Trained (completion) tokens of each row.
std::vector<int64_t> RowTokens(const data::post::PostRows& rows) {
  std::vector<int64_t> out(rows.num_rows(), 0);
  for (int64_t i = 0; i < int64_t(rows.targets.size()); ++i) {
    out[i / rows.seq_len] += rows.targets[i] >= 0;
  }
  return out;
}

// The chosen rows' NLL of step `step`: their summed cross-entropy over
// their completion tokens.
double ChosenNll(const config::RunConfig& cfg, const std::vector<double>& policy,
                 const std::vector<int64_t>& tokens, int64_t step) {
  const int64_t P = cfg.train().global_batch_size() / 2, n = int64_t(policy.size()) / 2;
  double ce = 0;
  int64_t count = 0;
  for (int64_t j = 0; j < P; ++j) {
    const int64_t pair = (step * P + j) % n;
    ce -= policy[2 * pair];
    count += tokens[2 * pair];
  }
  return ce / double(count);
}

// Step `step`'s loss in float64 from per-row log-probabilities.
double Objective(const config::RunConfig& cfg, const std::vector<double>& policy,
                 const std::vector<double>& ref, const std::vector<int64_t>& tokens,
                 int64_t step) {
  const int64_t P = cfg.train().global_batch_size() / 2, n = int64_t(policy.size()) / 2;
  double loss = 0;
  for (int64_t j = 0; j < P; ++j) {
    const int64_t pair = (step * P + j) % n;
    loss += DpoTerms(policy[2 * pair], policy[2 * pair + 1], ref[2 * pair], ref[2 * pair + 1],
                     cfg.objective().dpo_beta(), cfg.objective().dpo_label_smoothing())
                .loss;
  }
  return loss / double(P) + cfg.objective().dpo_rpo_alpha() * ChosenNll(cfg, policy, tokens, step);
}

double MetricOf(const StepMetrics& m, const std::string& name) {
  for (const auto& [k, v] : m.objective) {
    if (k == name) return v;
  }
  ADD_FAILURE() << name << " not logged";
  return 0;
}

// A DPO run (label smoothing 0.1, RPO weight `rpo_alpha`): its losses and
// gradient against float64 computations from per-sequence forwards, and
// the reference stays the initial weights'.
void CheckLossGradientAndReference(const std::string& name, double rpo_alpha) {
  const std::string dir = TempDir(name);
  const std::string rows_dir = WriteDpoRows(dir + "/rows", 6);
  auto rows = data::post::ReadPostRows(rows_dir);
  ASSERT_TRUE(rows.ok()) << rows.status();
  const std::vector<int64_t> tokens = RowTokens(*rows);
  config::RunConfig cfg = DpoRun(dir + "/run", rows_dir);
  cfg.mutable_objective()->set_dpo_label_smoothing(0.1);
  cfg.mutable_objective()->set_dpo_rpo_alpha(rpo_alpha);
  // Dense blocks: finite differences do not cross expert-routing switches.
  cfg.mutable_model()->set_first_k_dense_replace(2);
  cfg.mutable_train()->set_steps(4);
  auto t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
  ASSERT_TRUE(t.ok()) << t.status();
  Trainer& tr = **t;
  const std::vector<double> initial = RowLogps(tr.model(), *rows);
  // Step 1: policy == reference.
  auto m1 = tr.TrainStep(0);
  ASSERT_TRUE(m1.ok()) << m1.status();
  const double nll1 = ChosenNll(cfg, initial, tokens, 0);
  EXPECT_NEAR(m1->loss, std::log(2.0) + rpo_alpha * nll1, rpo_alpha > 0 ? 1e-6 : 1e-12);
  EXPECT_EQ(MetricOf(*m1, "rewards/margins"), 0.0);
  EXPECT_EQ(MetricOf(*m1, "rewards/accuracies"), 0.0);
  if (rpo_alpha > 0) {
    EXPECT_NEAR(MetricOf(*m1, "nll_loss"), nll1, 1e-6 * nll1);
  } else {
    for (const auto& [k, v] : m1->objective) EXPECT_NE(k, "nll_loss");
  }
  const std::vector<double> ref = ReadReference(dir + "/run/dpo_reference_logps.bin");
  ASSERT_EQ(ref.size(), initial.size());
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(ref[i], initial[i]) << "row " << i;
  // Step 2 from the updated weights: the loss and the gradient against a
  // float64 computation from per-sequence forwards.
  models::ParamArena& arena = tr.model().arena();
  const std::vector<float> theta(arena.params(), arena.params() + arena.size());
  const std::vector<double> policy = RowLogps(tr.model(), *rows);
  auto m2 = tr.TrainStep(1);
  ASSERT_TRUE(m2.ok()) << m2.status();
  const double want = Objective(cfg, policy, ref, tokens, 1);
  EXPECT_NEAR(m2->loss, want, 1e-6 * want);
  EXPECT_NE(m2->loss, std::log(2.0));
  const std::vector<float> g(arena.grads(), arena.grads() + arena.size());
  double gg = 0;
  for (float x : g) gg += double(x) * x;
  ASSERT_GT(gg, 0);
  const double h = 3e-3 / std::sqrt(gg);
  double side[2];
  for (int s = 0; s < 2; ++s) {
    for (size_t i = 0; i < g.size(); ++i) arena.params()[i] = theta[i] + float((s ? -h : h) * g[i]);
    side[s] = Objective(cfg, RowLogps(tr.model(), *rows), ref, tokens, 1);
  }
  EXPECT_NEAR((side[0] - side[1]) / (2 * h), gg, 3e-2 * gg);
  // The reference stays the initial weights' while the policy trains on.
  std::memcpy(arena.params(), theta.data(), theta.size() * sizeof(float));
  ASSERT_TRUE(tr.TrainStep(2).ok());
  ASSERT_TRUE(tr.TrainStep(3).ok());
  EXPECT_EQ(ReadReference(dir + "/run/dpo_reference_logps.bin"), ref);
}

TEST(DpoTrainerTest, LossAndGradientMatchFloat64AndReferenceIsFrozen) {
  CheckLossGradientAndReference("dpo_grad", 0);
}

// RPO: α × the chosen completions' NLL on top of the DPO loss.
TEST(DpoTrainerTest, RpoLossAndGradientMatchFloat64) {
  CheckLossGradientAndReference("dpo_rpo_grad", 0.7);
}

// Held-out evaluation (train.eval_every): the loss (with the RPO term) and
// the rewards of the current weights on data.eval_path against a float64
// computation from per-sequence forwards, with the initial weights as the
// reference; 5 pairs in global batches of 2 pairs (a short last batch).
TEST(DpoTrainerTest, HeldOutEvaluationMatchesFloat64) {
  const std::string dir = TempDir("dpo_eval");
  const std::string eval_dir = WriteDpoRows(dir + "/eval", 5, false, 9);
  auto eval = data::post::ReadPostRows(eval_dir);
  ASSERT_TRUE(eval.ok()) << eval.status();
  config::RunConfig cfg = DpoRun(dir + "/run", WriteDpoRows(dir + "/rows", 6));
  cfg.mutable_objective()->set_dpo_rpo_alpha(0.4);
  cfg.mutable_train()->set_steps(3);
  cfg.mutable_train()->set_eval_every(3);
  cfg.mutable_data()->set_eval_path(eval_dir);
  auto t = Trainer::Create(cfg, {.quiet = true, .resume = false});
  ASSERT_TRUE(t.ok()) << t.status();
  Trainer& tr = **t;
  const std::vector<double> ref = RowLogps(tr.model(), *eval);
  ASSERT_TRUE(tr.Run().ok());
  auto e = tr.Evaluate();
  ASSERT_TRUE(e.ok()) << e.status();
  const std::vector<double> policy = RowLogps(tr.model(), *eval);
  const std::vector<int64_t> tokens = RowTokens(*eval);
  double loss = 0, acc = 0, margin = 0, ce = 0;
  int64_t chosen = 0, all = 0;
  for (int64_t j = 0; j < 5; ++j) {
    const DpoPairTerms x = DpoTerms(policy[2 * j], policy[2 * j + 1], ref[2 * j], ref[2 * j + 1],
                                    0.5, 0.0);
    loss += x.loss / 5;
    acc += (x.reward_chosen > x.reward_rejected) / 5.0;
    margin += (x.reward_chosen - x.reward_rejected) / 5;
    ce -= policy[2 * j];
    chosen += tokens[2 * j];
    all += tokens[2 * j] + tokens[2 * j + 1];
  }
  const double nll = ce / double(chosen);
  EXPECT_NEAR(e->loss, loss + 0.4 * nll, 1e-6 * e->loss);
  EXPECT_EQ(e->tokens, all);
  EXPECT_FALSE(e->perplexity);
  std::map<std::string, double> got(e->metrics.begin(), e->metrics.end());
  EXPECT_NEAR(got["rewards/margins"], margin, 1e-6 + 1e-6 * std::abs(margin));
  EXPECT_EQ(got["rewards/accuracies"], acc);
  EXPECT_NEAR(got["nll_loss"], nll, 1e-6 * nll);
  EXPECT_NE(margin, 0.0);
  // The run logged them at its last step (eval_every 3), and kept the
  // held-out reference for a resumed run.
  auto jsonl = io::ReadFileToString(dir + "/run/metrics.jsonl");
  ASSERT_TRUE(jsonl.ok()) << jsonl.status();
  EXPECT_NE(jsonl->find("\"eval_rewards/margins\""), std::string::npos) << *jsonl;
  EXPECT_NE(jsonl->find("\"eval_loss\""), std::string::npos) << *jsonl;
  EXPECT_EQ(ReadReference(dir + "/run/dpo_eval_reference_logps.bin"), ref);
  // A held-out path that is no DPO dataset is named.
  cfg.mutable_data()->set_eval_path(dir + "/nowhere");
  auto bad = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("data.eval_path: '" + dir + "/nowhere' is not a DPO"),
            std::string::npos)
      << bad.status();
}

TEST(DpoTrainerTest, MarginGrowsAndChosenWins) {
  const std::string dir = TempDir("dpo_learn");
  config::RunConfig cfg = DpoRun(dir + "/run", WriteDpoRows(dir + "/rows", 16, true));
  cfg.mutable_train()->set_steps(30);
  auto t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
  ASSERT_TRUE(t.ok()) << t.status();
  StepMetrics last;
  for (int64_t s = 0; s < 30; ++s) {
    auto m = (*t)->TrainStep(s);
    ASSERT_TRUE(m.ok()) << m.status();
    last = *m;
  }
  EXPECT_LT(last.loss, 0.5 * std::log(2.0));
  EXPECT_GT(MetricOf(last, "rewards/margins"), 1.0);
  EXPECT_EQ(MetricOf(last, "rewards/accuracies"), 1.0);
  EXPECT_LT(MetricOf(last, "logps/rejected"), MetricOf(last, "logps/chosen"));
}

// A resumed DPO run reads the stored reference log-probabilities (its
// weights are no longer the initial ones) and continues exactly.
TEST(DpoTrainerTest, ResumeUsesTheStoredReference) {
  const std::string dir = TempDir("dpo_resume");
  const std::string rows = WriteDpoRows(dir + "/rows", 8);
  std::vector<double> whole;
  {
    config::RunConfig cfg = DpoRun(dir + "/whole", rows);
    cfg.mutable_train()->set_steps(6);
    auto t = Trainer::Create(cfg, {.quiet = true, .resume = false});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run().ok());
    whole = (*t)->losses();
  }
  config::RunConfig cfg = DpoRun(dir + "/split", rows);
  cfg.mutable_train()->set_steps(6);
  {
    auto t = Trainer::Create(cfg, {.quiet = true, .resume = false, .preempt_after_steps = 3});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ((*t)->Run().code(), absl::StatusCode::kCancelled);
  }
  auto t = Trainer::Create(cfg, {.quiet = true, .resume = true});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ((*t)->start_step(), 3);
  ASSERT_TRUE((*t)->Run().ok());
  const std::vector<double>& tail = (*t)->losses();
  ASSERT_EQ(whole.size(), 6u);
  ASSERT_EQ(tail.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(tail[i], whole[3 + i]) << "step " << 4 + i;
  // Without the stored reference a resumed run refuses to guess it.
  config::RunConfig other = DpoRun(dir + "/other", rows);
  other.mutable_train()->set_steps(6);
  {
    auto first = Trainer::Create(other, {.quiet = true, .resume = false, .preempt_after_steps = 3});
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_EQ((*first)->Run().code(), absl::StatusCode::kCancelled);
  }
  std::filesystem::remove(dir + "/other/dpo_reference_logps.bin");
  auto again = Trainer::Create(other, {.quiet = true, .resume = true});
  ASSERT_TRUE(again.ok()) << again.status();
  const absl::Status s = (*again)->Run();
  EXPECT_NE(s.message().find("needs the reference log-probabilities of the initial weights"),
            std::string::npos)
      << s;
}

// Reference log-probabilities precomputed beside the rows (hai data
// dpo-reference) equal the in-run reference and give its losses; a file
// computed for other weights, for a run from random weights or for other
// rows is refused.
TEST(DpoTrainerTest, PrecomputedReferenceGivesTheInRunLosses) {
  const std::string dir = TempDir("dpo_precomputed");
  const std::string rows = WriteDpoRows(dir + "/rows", 8);
  const config::RunConfig base = DpoRun(dir + "/unused", rows);
  for (uint64_t seed : {5, 6}) {
    auto model = models::DeepseekV2Model::Create(config::ToModelConfig(base), {.seed = seed});
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(SaveHfWeights(**model, base.model(), dir + "/w" + std::to_string(seed),
                              DType::kF32).ok());
  }
  auto run = [&](const std::string& out) {
    config::RunConfig cfg = DpoRun(dir + "/" + out, rows);
    cfg.mutable_train()->set_steps(4);
    cfg.mutable_train()->set_init_from(dir + "/w5");
    return cfg;
  };
  std::vector<double> in_run;
  {
    auto t = Trainer::Create(run("in_run"), {.quiet = true, .resume = false});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run().ok());
    in_run = (*t)->losses();
  }
  auto ref = posttrain::ComputeDpoReference(dir + "/w5", rows);
  ASSERT_TRUE(ref.ok()) << ref.status();
  const std::vector<double> stored = ReadReference(dir + "/in_run/dpo_reference_logps.bin");
  ASSERT_EQ(ref->logps.size(), stored.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    EXPECT_NEAR(ref->logps[i], stored[i], 1e-6 * std::abs(stored[i])) << "row " << i;
  }
  {
    auto t = Trainer::Create(run("precomputed"), {.quiet = true, .resume = false});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run().ok());
    const std::vector<double>& pre = (*t)->losses();
    ASSERT_EQ(pre.size(), in_run.size());
    for (size_t i = 0; i < pre.size(); ++i) {
      EXPECT_NEAR(pre[i], in_run[i], 1e-6 * in_run[i]) << "step " << i + 1;
    }
    // It read them: no reference pass, nothing stored in the run.
    EXPECT_FALSE(std::filesystem::exists(dir + "/precomputed/dpo_reference_logps.bin"));
  }
  auto refused = [&](config::RunConfig cfg, const std::string& want) {
    auto t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
    ASSERT_FALSE(t.ok()) << want;
    EXPECT_NE(t.status().message().find(want), std::string::npos) << t.status();
  };
  config::RunConfig other = run("other");
  other.mutable_train()->set_init_from(dir + "/w6");
  refused(other, "data.train_path: " + rows + "/dpo_reference.bin holds the reference "
                 "log-probabilities of the weights in ");
  refused(other, "but train.init_from " + dir + "/w6 holds other weights");
  other.mutable_train()->clear_init_from();
  refused(other, "but the run starts from random weights");
  WriteDpoRows(rows, 8, false, 7);  // prepared again: other pairs
  refused(run("again"), "was computed for other rows than " + rows);
}

TEST(DpoTrainerTest, OddBatchAndWrongDataAreNamed) {
  const std::string dir = TempDir("dpo_bad");
  config::RunConfig cfg = DpoRun(dir + "/run", WriteDpoRows(dir + "/rows", 4));
  cfg.mutable_train()->set_global_batch_size(3);
  cfg.mutable_train()->set_micro_batch_size(1);
  auto t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("train.global_batch_size: objective.type DPO needs whole"),
            std::string::npos)
      << t.status();
  cfg.mutable_objective()->set_type(config::ObjectiveConfig::SFT);
  cfg.mutable_train()->set_global_batch_size(4);
  t = Trainer::Create(cfg, {.write_outputs = false, .quiet = true});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("holds DPO rows, objective.type is SFT"), std::string::npos)
      << t.status();
}

}  // namespace
}  // namespace hs::train
