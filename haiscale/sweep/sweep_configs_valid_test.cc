// File: haiscale/sweep/sweep_configs_valid_test.cc — every sweep config
// under configs/sweeps/ loads, validates and plans (each point's run config
// passes ValidateConfig).
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/sweep/plan.h"
#include "haiscale/sweep/sweep_config.h"

namespace hs::sweep {
namespace {

TEST(SweepConfigsValidTest, EveryConfigPlans) {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator("configs/sweeps")) {
    if (e.path().extension() == ".pbtxt") paths.push_back(e.path().string());
  }
  ASSERT_FALSE(paths.empty());
  bool found_demo = false;
  for (const std::string& path : paths) {
    found_demo |= path == "configs/sweeps/isoflop_tiny.pbtxt";
    auto sweep = LoadSweep(path);
    ASSERT_TRUE(sweep.ok()) << sweep.status();
    auto points = MakePlan(*sweep);
    ASSERT_TRUE(points.ok()) << path << ": " << points.status();
    EXPECT_GE(points->size(), 3u) << path;
  }
  EXPECT_TRUE(found_demo);
}

}  // namespace
}  // namespace hs::sweep
