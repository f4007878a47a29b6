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
      // The slowest hop: P2P, the socket crossing, and the NIC between nodes.
      double bw = std::min(hw.p2p_bw, hw.xsocket_bw);
      if (nodes > 1) bw = std::min(bw, hw.nic_bw);
      // Lock step: 2(n-1) steps of S/n each, every one paying the latency.
      const double want = 2 * (n - 1) * (hw.nccl_step_latency + bytes / n / bw);
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

TEST(AllreduceModelTest, RingBandwidthIsTheSlowestHop) {
  Hardware hw = FireFlyerA100Preset();
  hw.p2p_bw = 10e9;
  hw.xsocket_bw = 7e9;
  hw.nic_bw = 5e9;
  EXPECT_EQ(NcclRingBandwidth(hw, 1), 7e9);  // one node: no NIC in the ring
  EXPECT_EQ(NcclRingBandwidth(hw, 2), 5e9);
  hw.sockets = 1;  // every GPU under one CPU: no crossing
  EXPECT_EQ(NcclRingBandwidth(hw, 1), 10e9);
  hw.sockets = 2;
  hw.gpus_per_node = 1;  // one GPU per node: nothing to cross
  EXPECT_EQ(NcclRingBandwidth(hw, 1), 10e9);
}

TEST(AllreduceModelTest, RingLatencyTermGrowsWithEveryGpu) {
  // 2(n-1) steps, each with the per-step latency: at 1440 GPUs and 25 us
  // that alone is 72 ms, more than the transfer of 186 MiB.
  Hardware hw = FireFlyerA100Preset();
  const int64_t S = 186 * kMiB;
  Hardware no_latency = hw;
  no_latency.nccl_step_latency = 0;
  const double lat = ModelNcclRing(hw, 180, S).seconds - ModelNcclRing(no_latency, 180, S).seconds;
  EXPECT_NEAR(lat, 2 * 1439 * hw.nccl_step_latency, 1e-12);
  EXPECT_EQ(ModelNcclRing(hw, 180, S).bottleneck, "latency");
  EXPECT_EQ(ModelNcclRing(hw, 2, S).bottleneck, "sockets");
}

TEST(AllreduceModelTest, FireFlyerRingWithinThePapersNcclRange) {
  // The paper: NCCL 4.8 GB/s at 16 GPUs down to 1.6 GB/s at 1440 (186 MiB);
  // the preset's ring lands within 10% of both ends.
  const Hardware hw = FireFlyerA100Preset();
  const int64_t S = 186 * kMiB;
  const double at16 = S / ModelNcclRing(hw, 2, S).seconds / 1e9;
  const double at1440 = S / ModelNcclRing(hw, 180, S).seconds / 1e9;
  EXPECT_NEAR(at16, 4.8, 0.48);
  EXPECT_NEAR(at1440, 1.6, 0.16);
}

TEST(AllreduceModelTest, TreeMatchesClosedFormWhenTheNicLimits) {
  Hardware hw = FireFlyerA100Preset();
  hw.p2p_bw = hw.xsocket_bw = 1e15;  // the chain inside the node is free
  const int64_t S = 186 * kMiB;
  for (int nodes : {2, 16, 180}) {
    const double want = TreeNicFactor(nodes) * S / hw.nic_bw / hw.nccl_tree_efficiency +
                        2.0 * (TreeDepth(nodes) + hw.gpus_per_node - 1) * hw.nccl_step_latency;
    EXPECT_NEAR(ModelNcclTree(hw, nodes, S).seconds, want, want * 1e-12);
  }
}

TEST(AllreduceModelTest, TreeBandwidthTermScalesWithItsEfficiency) {
  Hardware hw = FireFlyerA100Preset();
  hw.nccl_step_latency = 0;
  Hardware full = hw;
  full.nccl_tree_efficiency = 1;
  const int64_t S = 186 * kMiB;
  for (int nodes : {1, 2, 180}) {
    EXPECT_NEAR(ModelNcclTree(hw, nodes, S).seconds * hw.nccl_tree_efficiency,
                ModelNcclTree(full, nodes, S).seconds, 1e-12);
  }
  // Inside the node the chain crosses the sockets: S / min(P2P, across).
  EXPECT_NEAR(ModelNcclTree(full, 1, S).seconds, S / std::min(hw.p2p_bw, hw.xsocket_bw), 1e-12);
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
