// File: optim/lr_schedule_test.cc
//
// Schedules at their key steps: 0, end of warmup, 80%, 90%, the last step
// and past the end; plus validation errors naming the field.
#include "optim/lr_schedule.h"

#include <cmath>

#include "gtest/gtest.h"

namespace hs::optim {
namespace {

LrSchedule Make(LrScheduleOptions o) {
  auto s = LrSchedule::Create(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

TEST(LrScheduleTest, Constant) {
  LrScheduleOptions o;
  o.kind = LrScheduleKind::kConstant;
  o.lr = 1e-3;
  o.total_steps = 50;
  LrSchedule s = Make(o);
  EXPECT_DOUBLE_EQ(s.LrAt(0), 1e-3);
  EXPECT_DOUBLE_EQ(s.LrAt(49), 1e-3);
  o.warmup_steps = 4;
  s = Make(o);
  EXPECT_DOUBLE_EQ(s.LrAt(0), 0.25e-3);  // lr * (0 + 1) / 4
  EXPECT_DOUBLE_EQ(s.LrAt(2), 0.75e-3);
  EXPECT_DOUBLE_EQ(s.LrAt(3), 1e-3);  // last warmup step reaches the peak
  EXPECT_DOUBLE_EQ(s.LrAt(4), 1e-3);
}

TEST(LrScheduleTest, WarmupCosine) {
  LrScheduleOptions o;
  o.kind = LrScheduleKind::kCosine;
  o.lr = 1.0;
  o.warmup_steps = 10;
  o.total_steps = 111;  // last step 110; cosine over steps 10..110
  o.min_lr_ratio = 0.1;
  LrSchedule s = Make(o);
  EXPECT_DOUBLE_EQ(s.LrAt(0), 0.1);   // 1 * (0 + 1) / 10
  EXPECT_DOUBLE_EQ(s.LrAt(9), 1.0);   // end of warmup
  EXPECT_DOUBLE_EQ(s.LrAt(10), 1.0);  // cosine starts at the peak, p = 0
  EXPECT_NEAR(s.LrAt(60), 0.55, 1e-15);  // p = 0.5: halfway to min
  EXPECT_NEAR(s.LrAt(35), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.25)),
              1e-15);
  EXPECT_NEAR(s.LrAt(110), 0.1, 1e-15);  // last step: min_lr_ratio * lr
  EXPECT_NEAR(s.LrAt(500), 0.1, 1e-15);  // past the end: stays at min
  for (int64_t step = 10; step < 110; ++step) {
    EXPECT_GT(s.LrAt(step), s.LrAt(step + 1)) << step;  // monotone decay
  }
}

TEST(LrScheduleTest, CosineWithoutWarmupAndOneStep) {
  LrScheduleOptions o;
  o.lr = 2.0;
  o.total_steps = 5;
  o.min_lr_ratio = 0.0;
  LrSchedule s = Make(o);
  EXPECT_DOUBLE_EQ(s.LrAt(0), 2.0);
  EXPECT_NEAR(s.LrAt(2), 1.0, 1e-15);
  EXPECT_NEAR(s.LrAt(4), 0.0, 1e-15);
  o.total_steps = 1;
  EXPECT_DOUBLE_EQ(Make(o).LrAt(0), 2.0);
}

TEST(LrScheduleTest, DeepSeekMultiStep) {
  LrScheduleOptions o;
  o.kind = LrScheduleKind::kMultiStep;
  o.lr = 4.2e-4;
  o.warmup_steps = 20;
  o.total_steps = 1000;
  LrSchedule s = Make(o);  // default milestones {0.8, 0.9}, factors {0.316, 0.1}
  EXPECT_DOUBLE_EQ(s.LrAt(0), 4.2e-4 / 20);
  EXPECT_DOUBLE_EQ(s.LrAt(19), 4.2e-4);   // warmup end
  EXPECT_DOUBLE_EQ(s.LrAt(20), 4.2e-4);
  EXPECT_DOUBLE_EQ(s.LrAt(799), 4.2e-4);  // last step before 80%
  EXPECT_DOUBLE_EQ(s.LrAt(800), 4.2e-4 * 0.316);
  EXPECT_DOUBLE_EQ(s.LrAt(899), 4.2e-4 * 0.316);
  EXPECT_DOUBLE_EQ(s.LrAt(900), 4.2e-4 * 0.1);
  EXPECT_DOUBLE_EQ(s.LrAt(999), 4.2e-4 * 0.1);  // last step
  // Decimal fractions do not floor one step early: 0.7 * 10 = 7.
  o.total_steps = 10;
  o.warmup_steps = 0;
  o.milestones = {0.7};
  o.factors = {0.5};
  s = Make(o);
  EXPECT_DOUBLE_EQ(s.LrAt(6), 4.2e-4);
  EXPECT_DOUBLE_EQ(s.LrAt(7), 2.1e-4);
}

TEST(LrScheduleTest, Errors) {
  auto expect_field = [](LrScheduleOptions o, const char* field) {
    auto s = LrSchedule::Create(o);
    ASSERT_FALSE(s.ok()) << field;
    EXPECT_NE(s.status().message().find(field), std::string::npos)
        << s.status();
  };
  LrScheduleOptions o;
  o.total_steps = 10;
  o.warmup_steps = 11;
  expect_field(o, "lr_schedule.warmup_steps");
  o = LrScheduleOptions{};
  o.lr = 0;
  expect_field(o, "lr_schedule.lr");
  o = LrScheduleOptions{};
  o.total_steps = 0;
  expect_field(o, "lr_schedule.total_steps");
  o = LrScheduleOptions{};
  o.min_lr_ratio = 1.5;
  expect_field(o, "lr_schedule.min_lr_ratio");
  o = LrScheduleOptions{};
  o.kind = LrScheduleKind::kMultiStep;
  o.milestones = {0.9, 0.8};
  expect_field(o, "lr_schedule.milestones");
  o.milestones = {0.8};
  expect_field(o, "lr_schedule.factors");
  auto kind = ParseLrScheduleKind("linear");
  ASSERT_FALSE(kind.ok());
  EXPECT_NE(kind.status().message().find("lr_schedule.kind"), std::string::npos);
  for (auto k : {LrScheduleKind::kConstant, LrScheduleKind::kCosine,
                 LrScheduleKind::kMultiStep}) {
    EXPECT_EQ(*ParseLrScheduleKind(LrScheduleKindName(k)), k);
  }
}

}  // namespace
}  // namespace hs::optim
