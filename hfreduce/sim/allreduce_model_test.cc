// File: hfreduce/sim/allreduce_model_test.cc — the model against closed
// forms in limiting cases, tree arithmetic, and monotonicity.
#include "hfreduce/sim/allreduce_model.h"

#include <cmath>

#include "gtest/gtest.h"

namespace hs::hfreduce::sim {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(AllreduceModelTest, RingIsTheClosedForm) {
  Hardware hw = FireFlyerA100Preset();
  for (int nodes : {1, 2, 16, 180}) {
    for (int64_t bytes : {kMiB, 186 * kMiB}) {
      const double n = nodes * hw.gpus_per_node;
      const double bw = nodes > 1 ? std::min(hw.nic_bw, hw.p2p_bw) : hw.p2p_bw;
      const double want = 2 * (n - 1) / n * bytes / bw + 2 * (n - 1) * hw.nccl_step_latency;
      EXPECT_NEAR(ModelNcclRing(hw, nodes, bytes).seconds, want, want * 1e-12)
          << nodes << " nodes, " << bytes << " bytes";
    }
  }
}

TEST(AllreduceModelTest, TreeDepthIsFloorLog2) {
  EXPECT_EQ(TreeDepth(1), 0);
  EXPECT_EQ(TreeDepth(2), 1);
  EXPECT_EQ(TreeDepth(3), 1);
  EXPECT_EQ(TreeDepth(4), 2);
  EXPECT_EQ(TreeDepth(180), 7);
  for (int n = 1; n <= 1024; ++n) {
    EXPECT_EQ(TreeDepth(n), static_cast<int>(std::floor(std::log2(n)))) << n;
  }
}

TEST(AllreduceModelTest, TreeNicFactor) {
  EXPECT_EQ(TreeNicFactor(1), 0);
  EXPECT_EQ(TreeNicFactor(2), 1);  // each node: root of one tree, leaf of the other
  for (int n = 3; n <= 200; ++n) {
    // An inner node of one tree (3 halves) and a leaf of the other (1 half).
    EXPECT_GE(TreeNicFactor(n), 1.5) << n;
    EXPECT_LE(TreeNicFactor(n), 2.0) << n;
  }
}

TEST(AllreduceModelTest, TreeMatchesClosedFormWhenTheNicLimits) {
  Hardware hw = FireFlyerA100Preset();
  hw.p2p_bw = 1e15;  // the chain inside the node is free
  const int64_t S = 186 * kMiB;
  for (int nodes : {2, 16, 180}) {
    const double want = TreeNicFactor(nodes) * S / hw.nic_bw +
                        2.0 * (TreeDepth(nodes) + hw.gpus_per_node - 1) * hw.nccl_step_latency;
    EXPECT_NEAR(ModelNcclTree(hw, nodes, S).seconds, want, want * 1e-12);
  }
}

TEST(AllreduceModelTest, HfReduceOneChunkIsTheFill) {
  Hardware hw = FireFlyerA100Preset();
  hw.chunk_bytes = 64 * kMiB;
  const int64_t S = 16 * kMiB;  // one chunk: nothing to pipeline
  const ModelResult r = ModelHfReduce(hw, 4, S);
  EXPECT_EQ(r.chunks, 1);
  EXPECT_DOUBLE_EQ(r.seconds, hw.call_overhead + r.fill);
  // The fill: D2H and H2D, the sum, and two trips of the tree's depth.
  const double hop = hw.nic_latency + S / 2.0 / hw.nic_bw;
  const double pcie = hw.pcie_latency + S / hw.pcie_bw;
  EXPECT_NEAR(r.fill, 2 * pcie + std::max(r.cpu, r.host_mem) + 2 * TreeDepth(4) * hop, 1e-12);
}

TEST(AllreduceModelTest, HfReduceLargeMessagesRunAtTheBottleneck) {
  Hardware hw = FireFlyerA100Preset();
  const int64_t S = 4096 * kMiB;  // many chunks: the fill is negligible
  const ModelResult r = ModelHfReduce(hw, 16, S);
  const double steady = static_cast<double>(r.chunks) * r.per_chunk;
  EXPECT_NEAR(r.seconds / steady, 1.0, 0.01);
  // Host memory, per byte per GPU: D2H write, H2D read, the sum's read, the
  // acc's write / G, and the NIC DMA (2 x factor both ways) / G.
  const double G = hw.gpus_per_node;
  const double per_byte = (3 * G + 1 + 2 * TreeNicFactor(16)) / hw.host_mem_bw;
  EXPECT_NEAR(r.host_mem / hw.chunk_bytes, per_byte, per_byte * 1e-9);
  EXPECT_EQ(r.bottleneck, "host memory");
}

TEST(AllreduceModelTest, Monotonic) {
  const Hardware base = FireFlyerA100Preset();
  const int64_t S = 186 * kMiB;
  // More nodes never make it faster; more bytes never make it faster.
  for (int n = 1; n < 180; ++n) {
    EXPECT_LE(ModelHfReduce(base, n, S).seconds, ModelHfReduce(base, n + 1, S).seconds + 1e-12)
        << n;
    EXPECT_LE(ModelNcclRing(base, n, S).seconds, ModelNcclRing(base, n + 1, S).seconds) << n;
  }
  for (int64_t b = kMiB; b < 1024 * kMiB; b *= 2) {
    EXPECT_LT(ModelHfReduce(base, 16, b).seconds, ModelHfReduce(base, 16, 2 * b).seconds);
  }
  // More bandwidth never makes it slower.
  for (double Hardware::*bw : {&Hardware::pcie_bw, &Hardware::host_mem_bw,
                               &Hardware::cpu_reduce_bw, &Hardware::nic_bw}) {
    Hardware faster = base;
    faster.*bw *= 2;
    EXPECT_LE(ModelHfReduce(faster, 16, S).seconds, ModelHfReduce(base, 16, S).seconds);
  }
}

TEST(AllreduceModelTest, SensitivitiesNameTheBottleneck) {
  const Hardware hw = FireFlyerA100Preset();
  double mem = 0, nic = 0;
  for (const Sensitivity& s : Sensitivities(hw, 16, 186 * kMiB)) {
    if (s.input == "host_mem_bw") mem = s.hfreduce;
    if (s.input == "nic_bw") nic = s.hfreduce;
  }
  EXPECT_LT(mem, -0.5);            // the bottleneck: time ~ 1 / bandwidth
  EXPECT_GT(nic, mem);             // the NIC matters less
}

TEST(AllreduceModelTest, HostBuffersCostMoreMemoryTraffic) {
  Hardware gpu = FireFlyerA100Preset();
  Hardware host = gpu;
  host.pcie_bw = 0;  // copy-in and copy-out read and write host memory
  EXPECT_GT(ModelHfReduce(host, 4, 64 * kMiB).host_mem, ModelHfReduce(gpu, 4, 64 * kMiB).host_mem);
}

TEST(AllreduceModelTest, CacheTierOnlyForWorkingSetsThatFit) {
  Hardware hw = LocalPreset(4e9, /*cache_bytes=*/4 * kMiB, /*cache_bw=*/40e9);
  Hardware no_cache = LocalPreset(4e9);
  // 2 x G x S = 4 MiB fits: faster than DRAM; 2 MiB per rank does not.
  EXPECT_LT(ModelHfReduce(hw, 2, kMiB).seconds, ModelHfReduce(no_cache, 2, kMiB).seconds);
  EXPECT_DOUBLE_EQ(ModelHfReduce(hw, 2, 2 * kMiB).seconds,
                   ModelHfReduce(no_cache, 2, 2 * kMiB).seconds);
  // Still monotonic in the size across the step.
  for (int64_t b = 64 << 10; b < 64 * kMiB; b *= 2) {
    EXPECT_LT(ModelHfReduce(hw, 2, b).seconds, ModelHfReduce(hw, 2, 2 * b).seconds) << b;
  }
}

}  // namespace
}  // namespace hs::hfreduce::sim
