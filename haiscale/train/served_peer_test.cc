// File: haiscale/train/served_peer_test.cc
//
// ServedPeer against shell stand-ins for the PyTorch peer's serve mode: the
// answers parsed per command, a peer that exits or answers something else is
// an error naming the command (not a SIGPIPE), and the JSON parsing.
#include "haiscale/train/served_peer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hs::train {
namespace {

// Answers "steps K" with K times i + 0.5 (i = 1..K), as the peer would.
constexpr char kCountingPeer[] =
    "while read cmd k; do s=''; i=0; while [ $i -lt $k ]; do i=$((i+1)); "
    "s=\"$s${s:+, }$i.5\"; done; echo \"{\\\"step_ms\\\": [$s]}\"; done";

TEST(ServedPeerTest, AnswersEachCommand) {
  auto peer = ServedPeer::Start(kCountingPeer);
  ASSERT_TRUE(peer.ok()) << peer.status();
  auto two = (*peer)->Steps(2);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(*two, (std::vector<double>{1.5, 2.5}));
  auto three = (*peer)->Steps(3);
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(*three, (std::vector<double>{1.5, 2.5, 3.5}));
}

TEST(ServedPeerTest, ExitedPeerIsAnErrorNamingIt) {
  auto peer = ServedPeer::Start("exit 3");
  ASSERT_TRUE(peer.ok()) << peer.status();
  for (int i = 0; i < 3; ++i) {  // later writes hit a closed pipe: no SIGPIPE
    auto r = (*peer)->Steps(1);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(std::string(r.status().message()).find("exit 3"), std::string::npos)
        << r.status();
  }
}

TEST(ServedPeerTest, OtherAnswersAreErrors) {
  auto peer = ServedPeer::Start("read x; echo '{\"error\": \"no torch\"}'; read y; "
                                "echo '{\"step_ms\": [1, 2]}'");
  ASSERT_TRUE(peer.ok()) << peer.status();
  auto r = (*peer)->Steps(1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("no torch"), std::string::npos) << r.status();
  // Two numbers for one step asked.
  EXPECT_FALSE((*peer)->Steps(1).ok());
}

TEST(ServedPeerTest, ParseStepMs) {
  std::vector<double> ms;
  ASSERT_TRUE(ParseStepMs("{\"step_ms\": [12.5, 3, 4e1]}\n", &ms));
  EXPECT_EQ(ms, (std::vector<double>{12.5, 3, 40}));
  ASSERT_TRUE(ParseStepMs("{\"step_ms\": []}", &ms));
  EXPECT_TRUE(ms.empty());
  EXPECT_FALSE(ParseStepMs("{\"error\": \"x\"}", &ms));
  EXPECT_FALSE(ParseStepMs("{\"step_ms\": [1, x]}", &ms));
  EXPECT_FALSE(ParseStepMs("{\"step_ms\": 5}", &ms));
}

}  // namespace
}  // namespace hs::train
