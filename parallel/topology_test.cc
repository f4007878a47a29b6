#include "parallel/topology.h"

#include <set>

#include "gtest/gtest.h"

namespace hs::parallel {
namespace {

TEST(TopologyTest, Pp2Dp4Ep2Layout) {
  auto t = Topology::Create({.world = 8, .dp = 4, .pp = 2, .ep = 2, .num_layers = 4,
                             .n_routed_experts = 8, .micro_batches = 4});
  ASSERT_TRUE(t.ok()) << t.status();
  RankCoords c = t->Coords(6);
  EXPECT_EQ(c.stage, 1);
  EXPECT_EQ(c.dp_rank, 2);
  EXPECT_EQ(c.ep_group, 1);
  EXPECT_EQ(c.ep_rank, 0);
  EXPECT_EQ(t->DpGroup(1), (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(t->EpGroup(1, 1), (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(t->PipelineGroup(3), (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(t->ExpertReplicaGroup(6), (std::vector<int64_t>{4, 6}));
}

TEST(TopologyTest, EveryRankInExactlyOneGroupOfEachKind) {
  for (int64_t pp : {1, 2, 4}) {
    for (int64_t dp : {1, 2, 4}) {
      for (int64_t ep : {1, 2}) {
        if (dp % ep) continue;
        auto t = Topology::Create({.world = pp * dp, .dp = dp, .pp = pp, .ep = ep, .num_layers = 8,
                                   .n_routed_experts = 8, .micro_batches = 8});
        ASSERT_TRUE(t.ok()) << t.status();
        std::multiset<int64_t> dp_seen, pp_seen, ep_seen;
        for (int64_t s = 0; s < pp; ++s) {
          for (int64_t r : t->DpGroup(s)) dp_seen.insert(r);
          for (int64_t g = 0; g < dp / ep; ++g)
            for (int64_t r : t->EpGroup(s, g)) ep_seen.insert(r);
        }
        for (int64_t d = 0; d < dp; ++d)
          for (int64_t r : t->PipelineGroup(d)) pp_seen.insert(r);
        for (int64_t r = 0; r < pp * dp; ++r) {
          EXPECT_EQ(dp_seen.count(r), 1u);
          EXPECT_EQ(pp_seen.count(r), 1u);
          EXPECT_EQ(ep_seen.count(r), 1u);
        }
      }
    }
  }
}

TEST(TopologyTest, ErrorsNameEveryField) {
  auto t = Topology::Create({.world = 8, .dp = 3, .pp = 2, .ep = 2, .num_layers = 1,
                             .n_routed_experts = 5, .micro_batches = 1});
  ASSERT_FALSE(t.ok());
  std::string m(t.status().message());
  for (const char* part : {"parallel.dp x parallel.pp: 3 x 2 = 6 but the job has 8 ranks",
                           "parallel.ep: 2 must divide parallel.dp (3)",
                           "must divide model.n_routed_experts (5)",
                           "model.num_hidden_layers is 1", "parallel.micro_batches: 1",
                           "(world=8 dp=3 pp=2 ep=2)"})
    EXPECT_NE(m.find(part), std::string::npos) << part << "\n" << m;
}

TEST(TopologyTest, DpDefaultsToWorldOverPp) {
  auto t = Topology::Create({.world = 6, .pp = 3, .num_layers = 3, .micro_batches = 3});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dp(), 2);
}

TEST(TopologyTest, BalancedSplit) {
  auto t = Topology::Create({.world = 3, .pp = 3, .num_layers = 7, .micro_batches = 3});
  ASSERT_TRUE(t.ok());
  auto split = t->BalancedLayerSplit(7);
  ASSERT_EQ(split.size(), 3u);
  EXPECT_EQ(split[0], (std::pair<int64_t, int64_t>{0, 3}));
  EXPECT_EQ(split[1], (std::pair<int64_t, int64_t>{3, 5}));
  EXPECT_EQ(split[2], (std::pair<int64_t, int64_t>{5, 7}));
}

}  // namespace
}  // namespace hs::parallel
