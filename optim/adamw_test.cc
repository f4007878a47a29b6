// File: optim/adamw_test.cc
//
// AdamW against a scalar double-precision reference written here from the
// torch.optim.AdamW formulas, plus a hand-computed first step, masked
// weight decay, sub-range stepping (DDP buckets / ZeRO shards) and thread
// independence.
#include "optim/adamw.h"

#include <omp.h>

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/rng.h"
#include "optim/clip.h"
#include "optim/make_optimizer.h"

namespace hs::optim {
namespace {

// Scalar reference: one element, double precision, 0-based step.
struct RefAdamW {
  double p, m = 0.0, v = 0.0;
  void Step(double g, int64_t step, double lr, double wd, double b1, double b2,
            double eps) {
    const double t = double(step + 1);
    p -= lr * wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double mhat = m / (1 - std::pow(b1, t));
    const double vhat = v / (1 - std::pow(b2, t));
    p -= lr * mhat / (std::sqrt(vhat) + eps);
  }
};

std::vector<float> Random(int64_t n, uint64_t stream, float lo, float hi) {
  std::vector<float> x(n);
  FillUniform(x.data(), n, /*seed=*/7, stream, lo, hi);
  return x;
}

TEST(AdamWTest, HandComputedFirstStep) {
  // p = 1, g = 0.5, lr = 0.1, wd = 0.1, step 0 (t = 1):
  //   decay: p = 1 - 0.1*0.1*1 = 0.99
  //   m = 0.05, v = 0.0125 (b2 0.95); mhat = 0.5, vhat = 0.25
  //   p = 0.99 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.89 (+2e-9)
  AdamWOptions o;  // b1 0.9, b2 0.95, eps 1e-8, wd 0.1
  auto adamw = AdamW::Create(o, DecayMask::AllDecay(1), 0, 1);
  ASSERT_TRUE(adamw.ok()) << adamw.status();
  float p = 1.0f, g = 0.5f;
  ASSERT_TRUE((*adamw)->Step(&p, &g, 0, 1, /*step=*/0, /*lr=*/0.1).ok());
  EXPECT_NEAR(p, 0.89f, 1e-6);
  auto state = (*adamw)->StateSpans();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].name, "exp_avg");
  EXPECT_NEAR(state[0].data[0], 0.05f, 1e-8);
  EXPECT_EQ(state[1].name, "exp_avg_sq");
  EXPECT_NEAR(state[1].data[0], 0.0125f, 1e-9);
}

TEST(AdamWTest, MatchesDoubleReferenceOverSteps) {
  const int64_t n = 1000;
  AdamWOptions o;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-8;
  o.weight_decay = 0.05;
  // First half decays, second half does not (as a norm would).
  std::vector<ParamRange> layout = {{"w", 0, 600, true}, {"norm", 600, 400, false}};
  auto mask = DecayMask::Create(layout, n);
  ASSERT_TRUE(mask.ok()) << mask.status();
  auto adamw = AdamW::Create(o, *mask, 0, n);
  ASSERT_TRUE(adamw.ok()) << adamw.status();

  std::vector<float> p = Random(n, 1, -1.f, 1.f);
  std::vector<RefAdamW> ref;
  for (float x : p) ref.push_back({double(x)});
  std::vector<std::vector<float>> grads;
  for (int64_t step = 0; step < 6; ++step) {
    const double lr = 1e-2 * (step + 1);  // changing lr, like a warmup
    grads.push_back(Random(n, 100 + step, -2.f, 2.f));
    const std::vector<float>& g = grads.back();
    ASSERT_TRUE((*adamw)->Step(p.data(), g.data(), 0, n, step, lr).ok());
    for (int64_t i = 0; i < n; ++i) {
      ref[i].Step(g[i], step, lr, i < 600 ? o.weight_decay : 0.0, o.beta1,
                  o.beta2, o.eps);
    }
  }
  double max_err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    max_err = std::max(max_err, std::abs(double(p[i]) - ref[i].p));
  }
  EXPECT_LT(max_err, 2e-6) << "maxdiff vs double reference";
  // The decay mask matters: without decay the decayed half would differ.
  std::vector<float> p_init = Random(n, 1, -1.f, 1.f);
  double max_decay_effect = 0.0;
  for (int64_t i = 0; i < 600; ++i) {
    RefAdamW nodecay{double(p_init[i])};
    for (int64_t step = 0; step < 6; ++step) {
      nodecay.Step(grads[step][i], step,
                   1e-2 * (step + 1), 0.0, o.beta1, o.beta2, o.eps);
    }
    max_decay_effect =
        std::max(max_decay_effect, std::abs(nodecay.p - double(p[i])));
  }
  EXPECT_GT(max_decay_effect, 1e-3);
}

TEST(AdamWTest, BiasCorrectionUsesStepSoResumeMatches) {
  // Stepping once at step 5 from state saved after step 4 equals the
  // uninterrupted run: t comes from the step argument, not a counter.
  const int64_t n = 64;
  AdamWOptions o;
  auto a = AdamW::Create(o, DecayMask::AllDecay(n), 0, n);
  ASSERT_TRUE(a.ok());
  std::vector<float> p = Random(n, 3, -1.f, 1.f);
  for (int64_t step = 0; step < 5; ++step) {
    auto g = Random(n, 200 + step, -1.f, 1.f);
    ASSERT_TRUE((*a)->Step(p.data(), g.data(), 0, n, step, 1e-3).ok());
  }
  // "Checkpoint": copy params and state into a fresh optimizer.
  auto b = AdamW::Create(o, DecayMask::AllDecay(n), 0, n);
  ASSERT_TRUE(b.ok());
  auto sa = (*a)->StateSpans(), sb = (*b)->StateSpans();
  for (size_t k = 0; k < sa.size(); ++k) {
    std::copy(sa[k].data, sa[k].data + sa[k].size, sb[k].data);
  }
  std::vector<float> q = p;
  auto g = Random(n, 205, -1.f, 1.f);
  ASSERT_TRUE((*a)->Step(p.data(), g.data(), 0, n, 5, 1e-3).ok());
  ASSERT_TRUE((*b)->Step(q.data(), g.data(), 0, n, 5, 1e-3).ok());
  EXPECT_EQ(p, q);
}

TEST(AdamWTest, GradScaleEqualsScalingTheGradientsFirst) {
  // Step(..., grad_scale) is clipping's ScaleGradients then Step, bit for
  // bit, and leaves the gradients as they were. Large enough to take the
  // OpenMP path; a decayed and a non-decayed segment.
  const int64_t n = 100003;
  auto mask = DecayMask::Create({{"w", 0, 60000, true}, {"norm", 60000, n - 60000, false}}, n);
  ASSERT_TRUE(mask.ok());
  auto a = AdamW::Create(AdamWOptions{}, *mask, 0, n);
  auto b = AdamW::Create(AdamWOptions{}, *mask, 0, n);
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<float> p = Random(n, 11, -1.f, 1.f), q = p;
  for (int64_t step = 0; step < 3; ++step) {
    const std::vector<float> g = Random(n, 300 + step, -2.f, 2.f);
    const float scale = 0.37f + 0.1f * float(step);
    std::vector<float> scaled = g;
    ScaleGradients(scaled.data(), n, scale);
    ASSERT_TRUE((*a)->Step(p.data(), scaled.data(), 0, n, step, 1e-3).ok());
    std::vector<float> g_copy = g;
    ASSERT_TRUE((*b)->Step(q.data(), g_copy.data(), 0, n, step, 1e-3, scale).ok());
    ASSERT_EQ(p, q) << "step " << step;
    ASSERT_EQ(g_copy, g) << "the gradients were modified";
  }
}

TEST(AdamWTest, SubRangesEqualWholeRangeAndThreadCountIndependent) {
  // A shard [begin, end) stepped as three buckets equals one whole call,
  // and the result does not depend on the OpenMP thread count.
  const int64_t n = 200003, begin = 1001, end = 150001;
  std::vector<ParamRange> layout = {{"a", 0, 70000, true},
                                    {"b", 70000, 13, false},
                                    {"c", 70013, 129990, true}};
  auto mask = DecayMask::Create(layout, n);
  ASSERT_TRUE(mask.ok()) << mask.status();
  std::vector<float> p0 = Random(n, 4, -1.f, 1.f);
  std::vector<float> g = Random(n, 5, -1.f, 1.f);

  auto run = [&](int threads, std::vector<int64_t> cuts) {
    omp_set_num_threads(threads);
    auto opt = AdamW::Create(AdamWOptions{}, *mask, begin, end);
    EXPECT_TRUE(opt.ok());
    std::vector<float> p = p0;
    for (int64_t step = 0; step < 3; ++step) {
      for (size_t k = 0; k + 1 < cuts.size(); ++k) {
        EXPECT_TRUE((*opt)->Step(p.data() + cuts[k], g.data() + cuts[k],
                                 cuts[k], cuts[k + 1] - cuts[k], step, 1e-3)
                        .ok());
      }
    }
    return p;
  };
  std::vector<float> whole1 = run(1, {begin, end});
  std::vector<float> whole2 = run(2, {begin, end});
  std::vector<float> buckets2 = run(2, {begin, 70005, 70010, end});
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_EQ(whole1, whole2);
  EXPECT_EQ(whole1, buckets2);
  // Outside the shard nothing moved; inside, everything did.
  EXPECT_EQ(whole1[begin - 1], p0[begin - 1]);
  EXPECT_EQ(whole1[end], p0[end]);
  EXPECT_NE(whole1[begin], p0[begin]);
  EXPECT_NE(whole1[end - 1], p0[end - 1]);
}

TEST(AdamWTest, Errors) {
  AdamWOptions o;
  o.beta2 = 1.0;
  auto bad = AdamW::Create(o, DecayMask::AllDecay(4), 0, 4);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("adamw.beta2"), std::string::npos);

  auto opt = AdamW::Create(AdamWOptions{}, DecayMask::AllDecay(10), 2, 8);
  ASSERT_TRUE(opt.ok());
  float p[10] = {}, g[10] = {};
  absl::Status s = (*opt)->Step(p, g, 0, 10, 0, 1e-3);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("owned range [2, 8)"), std::string::npos) << s;
  EXPECT_FALSE((*opt)->Step(p, g, 2, 6, -1, 1e-3).ok());
  EXPECT_FALSE(AdamW::Create(AdamWOptions{}, DecayMask::AllDecay(10), 2, 11).ok());
}

TEST(DecayMaskTest, LayoutValidationAndSegments) {
  auto overlap = DecayMask::Create({{"a", 0, 10, true}, {"b", 5, 10, true}}, 20);
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.status().message().find("'a' and 'b' overlap"),
            std::string::npos)
      << overlap.status();
  auto outside = DecayMask::Create({{"lm_head.weight", 10, 20, true}}, 20);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("lm_head.weight"), std::string::npos);

  // Unsorted input, a padding gap [12, 16) and adjacent decayed ranges.
  auto mask = DecayMask::Create({{"c", 16, 4, true},
                                 {"a", 0, 8, true},
                                 {"n", 8, 4, false},
                                 {"d", 20, 4, true}},
                                24);
  ASSERT_TRUE(mask.ok()) << mask.status();
  auto segs = mask->Segments(6, 22);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].begin, 6);
  EXPECT_EQ(segs[0].end, 8);
  EXPECT_TRUE(segs[0].decay);
  EXPECT_EQ(segs[1].begin, 8);
  EXPECT_EQ(segs[1].end, 16);
  EXPECT_FALSE(segs[1].decay);
  EXPECT_EQ(segs[2].begin, 16);
  EXPECT_EQ(segs[2].end, 22);
  EXPECT_TRUE(segs[2].decay);
  EXPECT_TRUE(mask->Segments(5, 5).empty());
}

TEST(DecayMaskTest, DefaultRule) {
  EXPECT_TRUE(DecaysByDefault({512, 64}, false));
  EXPECT_FALSE(DecaysByDefault({64}, false));
  EXPECT_TRUE(DecaysByDefault({64}, true));
}

TEST(MakeOptimizerTest, PicksByType) {
  OptimizerOptions o;
  auto adamw = MakeOptimizer(o, {{"w", 0, 8, true}}, 8, 0, 8);
  ASSERT_TRUE(adamw.ok()) << adamw.status();
  EXPECT_STREQ((*adamw)->name(), "adamw");
  o.type = "sgd";
  auto sgd = MakeOptimizer(o, {{"w", 0, 8, true}}, 8, 0, 8);
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  EXPECT_STREQ((*sgd)->name(), "sgd");
  o.type = "lion";
  auto bad = MakeOptimizer(o, {}, 8, 0, 8);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("optimizer.type"), std::string::npos);
}

}  // namespace
}  // namespace hs::optim
