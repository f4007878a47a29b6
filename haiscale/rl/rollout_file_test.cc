// File: haiscale/rl/rollout_file_test.cc
#include "haiscale/rl/rollout_file.h"

#include <gtest/gtest.h>

#include <cmath>

namespace hs::rl {
namespace {

GrpoRollouts Example() {
  GrpoRollouts r;
  r.B = 2;
  r.T = 3;
  r.tokens = {5, 6, 7, 8, 9, 10};
  r.targets = {-1, 7, 1, -1, 10, -1};
  r.advantages = {0.7071067811865476, -std::nextafter(0.7, 1.0)};
  r.counts = {4, 9, 2, 5};
  r.logp_old = {-1.25, -0.1 / 3, -2.0};
  r.logp_ref = {-1.5, -std::acos(-1.0), -2.5};
  r.stats.reward_mean = 1.0 / 3;
  r.stats.reward_function_means = {0.25, 1e-300};
  r.stats.completion_length_max = 4;
  r.stats.rollout_tokens = 11;
  r.stats.clipped_fraction = 0.125;
  return r;
}

TEST(RolloutFile, RoundTripIsBitExact) {
  const GrpoRollouts r = Example();
  absl::StatusOr<GrpoRollouts> back = ParseRollouts(SerializeRollouts(r), "f.bin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->B, 2);
  EXPECT_EQ(back->T, 3);
  EXPECT_EQ(back->tokens, r.tokens);
  EXPECT_EQ(back->targets, r.targets);
  EXPECT_EQ(back->advantages, r.advantages);
  EXPECT_EQ(back->logp_old, r.logp_old);
  EXPECT_EQ(back->logp_ref, r.logp_ref);
  EXPECT_EQ(back->counts.global_tokens, 9);
  EXPECT_EQ(back->counts.max_completion_tokens, 5);
  EXPECT_EQ(back->stats.reward_mean, r.stats.reward_mean);
  EXPECT_EQ(back->stats.reward_function_means, r.stats.reward_function_means);
  EXPECT_EQ(back->stats.completion_length_max, 4);
  EXPECT_EQ(back->stats.rollout_tokens, 11);
  EXPECT_EQ(back->stats.clipped_fraction, 0.125);
}

TEST(RolloutFile, DamagedFilesAreErrorsNamingTheFile) {
  const std::string bytes = SerializeRollouts(Example());
  for (size_t cut : {size_t(0), size_t(5), size_t(20), bytes.size() - 1}) {
    absl::StatusOr<GrpoRollouts> r = ParseRollouts(bytes.substr(0, cut), "gen3.bin");
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_NE(r.status().message().find("gen3.bin"), std::string::npos) << r.status();
  }
  absl::StatusOr<GrpoRollouts> r = ParseRollouts(bytes + "x", "gen3.bin");
  EXPECT_FALSE(r.ok());
}

TEST(RolloutFile, FlippedBitIsAChecksumError) {
  std::string bytes = SerializeRollouts(Example());
  bytes[bytes.size() / 2] ^= 0x10;  // inside the arrays: the layout still parses
  absl::StatusOr<GrpoRollouts> r = ParseRollouts(bytes, "gen3.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("gen3.bin: checksum mismatch"), std::string::npos)
      << r.status();
}

}  // namespace
}  // namespace hs::rl
