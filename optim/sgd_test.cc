// File: optim/sgd_test.cc
//
// SGD against torch.optim.SGD's update rule written out in double:
// plain, L2 weight decay (masked), momentum with and without dampening,
// Nesterov, and option validation.
#include "optim/sgd.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace hs::optim {
namespace {

// Scalar reference in double for one element (0-based steps).
struct RefSgd {
  double p, buf = 0.0;
  void Step(double g, int64_t step, double lr, double wd, double mu,
            double damp, bool nesterov) {
    double d = g + wd * p;
    if (mu != 0.0) {
      buf = step == 0 ? d : mu * buf + (1 - damp) * d;
      d = nesterov ? d + mu * buf : buf;
    }
    p -= lr * d;
  }
};

void CheckAgainstReference(const SgdOptions& o) {
  const int64_t n = 8;
  // Elements [0, 4) decay, [4, 8) do not.
  auto mask = DecayMask::Create({{"w", 0, 4, true}, {"norm", 4, 4, false}}, n);
  ASSERT_TRUE(mask.ok());
  auto sgd = Sgd::Create(o, *mask, 0, n);
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  std::vector<float> p = {0.5f, -1.f, 2.f, 0.25f, 1.f, -0.5f, 0.75f, -2.f};
  std::vector<RefSgd> ref;
  for (float x : p) ref.push_back({double(x)});
  for (int64_t step = 0; step < 5; ++step) {
    std::vector<float> g(n);
    for (int64_t i = 0; i < n; ++i) g[i] = std::sin(0.7f * i + 1.3f * step);
    ASSERT_TRUE((*sgd)->Step(p.data(), g.data(), 0, n, step, 0.1).ok());
    for (int64_t i = 0; i < n; ++i) {
      ref[i].Step(g[i], step, 0.1, i < 4 ? o.weight_decay : 0.0, o.momentum,
                  o.dampening, o.nesterov);
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(p[i], ref[i].p, 1e-5) << "element " << i;
  }
}

TEST(SgdTest, PlainHandComputed) {
  SgdOptions o;
  auto sgd = Sgd::Create(o, DecayMask::AllDecay(2), 0, 2);
  ASSERT_TRUE(sgd.ok());
  float p[2] = {1.f, 2.f}, g[2] = {0.5f, -1.f};
  ASSERT_TRUE((*sgd)->Step(p, g, 0, 2, 0, 0.1).ok());
  EXPECT_FLOAT_EQ(p[0], 0.95f);
  EXPECT_FLOAT_EQ(p[1], 2.1f);
  EXPECT_TRUE((*sgd)->StateSpans().empty());
}

TEST(SgdTest, GradScaleHandComputed) {
  // grad_scale 0.5 on g = (0.5, -1): the step of g = (0.25, -0.5); the
  // gradients are left as they were.
  auto sgd = Sgd::Create(SgdOptions{}, DecayMask::AllDecay(2), 0, 2);
  ASSERT_TRUE(sgd.ok());
  float p[2] = {1.f, 2.f}, g[2] = {0.5f, -1.f};
  ASSERT_TRUE((*sgd)->Step(p, g, 0, 2, 0, 0.1, 0.5f).ok());
  EXPECT_FLOAT_EQ(p[0], 0.975f);
  EXPECT_FLOAT_EQ(p[1], 2.05f);
  EXPECT_EQ(g[0], 0.5f);
  EXPECT_EQ(g[1], -1.f);
}

TEST(SgdTest, MomentumHandComputed) {
  // mu = 0.9, lr = 1, g = 1 twice: buf = 1 then 1.9; p = 0 - 1 - 1.9.
  SgdOptions o;
  o.momentum = 0.9;
  auto sgd = Sgd::Create(o, DecayMask::AllDecay(1), 0, 1);
  ASSERT_TRUE(sgd.ok());
  float p = 0.f, g = 1.f;
  ASSERT_TRUE((*sgd)->Step(&p, &g, 0, 1, 0, 1.0).ok());
  ASSERT_TRUE((*sgd)->Step(&p, &g, 0, 1, 1, 1.0).ok());
  EXPECT_FLOAT_EQ(p, -2.9f);
  auto state = (*sgd)->StateSpans();
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0].name, "momentum_buffer");
  EXPECT_FLOAT_EQ(state[0].data[0], 1.9f);
}

TEST(SgdTest, PlainWithWeightDecay) {
  SgdOptions o;
  o.weight_decay = 0.01;
  CheckAgainstReference(o);
}

TEST(SgdTest, Momentum) {
  SgdOptions o;
  o.momentum = 0.9;
  o.weight_decay = 0.1;
  CheckAgainstReference(o);
}

TEST(SgdTest, MomentumWithDampening) {
  SgdOptions o;
  o.momentum = 0.8;
  o.dampening = 0.5;
  CheckAgainstReference(o);
}

TEST(SgdTest, Nesterov) {
  SgdOptions o;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 0.05;
  CheckAgainstReference(o);
}

TEST(SgdTest, Errors) {
  SgdOptions o;
  o.nesterov = true;
  auto bad = Sgd::Create(o, DecayMask::AllDecay(4), 0, 4);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sgd.nesterov"), std::string::npos);
  o = SgdOptions{};
  o.momentum = -0.1;
  bad = Sgd::Create(o, DecayMask::AllDecay(4), 0, 4);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sgd.momentum"), std::string::npos);
  auto ok = Sgd::Create(SgdOptions{}, DecayMask::AllDecay(4), 0, 4);
  ASSERT_TRUE(ok.ok());
  float p[4] = {}, g[4] = {};
  EXPECT_FALSE((*ok)->Step(p, g, 1, 4, 0, 0.1).ok());
}

}  // namespace
}  // namespace hs::optim
