// File: hfreduce/sim/allreduce_model.h
//
// An analytic pipeline model of allreduce on a cluster of GPU nodes, from
// stated hardware parameters, for HFReduce and for NCCL's ring and tree
// algorithms (what `hai sim allreduce` prints). Times are seconds, sizes
// bytes, bandwidths bytes/second (GB/s = 1e9 B/s in the CLI).
//
// HFReduce (one node = G GPUs, one NIC, host memory shared by all):
//   per chunk of c bytes per GPU:  D2H (PCIe, all GPUs at once) -> CPU sum
//   into an f32 acc (host memory) -> double binary tree between nodes (NIC;
//   each tree carries half) -> H2D (PCIe). Chunks are pipelined, so
//     T = overhead + fill + (chunks - 1) * max(resource time per chunk)
//   where fill is one chunk's trip through every stage (PCIe, sum, 2 x tree
//   depth hops, PCIe) and the resources are the PCIe links, host memory
//   (every byte the node's copies, sums and NIC DMA read and write), the CPU
//   sum and the NIC (the busiest node's bytes in the double tree, from the
//   real tree of hfreduce/tree.h).
// NCCL ring over all n = N*G GPUs, one ring crossing each node's NIC once.
//   It runs in lock step: each of its 2(n-1) steps moves S/n on every link
//   and ends when the slowest hop is done, so
//     T = 2(n-1) * (alpha + S/n / B_ring),  B_ring = min(B_nic, B_p2p, B_x)
//   where B_x is GPU-to-GPU across the CPU sockets (a PCIe node without
//   NVLink: the ring leaves a socket and comes back once per node) and alpha
//   the per-step latency (with host-staged network steps, tens of us).
// NCCL tree: the double binary tree between nodes, a chain of G GPUs inside,
//   at the efficiency eta that NCCL's own cost model gives its tree
//   (half of the channels' bus bandwidth, times 0.9):
//     T = max(nic_factor * S / B_nic, S / min(B_p2p, B_x)) / eta
//         + 2(depth + G - 1) * alpha
//   (nic_factor: the busiest node's bytes per direction / S in the tree).
//
// Usage:
//   Hardware hw = FireFlyerA100Preset();
//   ModelResult r = ModelHfReduce(hw, /*nodes=*/16, /*bytes=*/186 << 20);
//   double algbw = (186 << 20) / r.seconds;
#ifndef HFREDUCE_SIM_ALLREDUCE_MODEL_H_
#define HFREDUCE_SIM_ALLREDUCE_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace hs::hfreduce::sim {

// The stated hardware of one node and the network (bandwidths in B/s).
struct Hardware {
  int gpus_per_node = 8;
  // PCIe per GPU per direction (D2H and H2D run at once). 0: buffers are in
  // host memory already (no PCIe stage; plain-buffer HFReduce as measured
  // on a CPU-only machine: the copy-in/out then also reads/writes memory).
  double pcie_bw = 24e9;
  double pcie_latency = 10e-6;  // per copy (launch + completion)
  // Host memory, read + write bytes counted, whole node.
  double host_mem_bw = 200e9;
  // A cache tier: when a call's working set on a node (inputs and slots,
  // 2 x G x bytes) fits in cache_bytes, memory traffic (and a NIC made of
  // host copies) runs at cache_bw instead. 0: no cache term (a cluster's
  // gradient buffers never fit).
  int64_t cache_bytes = 0;
  double cache_bw = 0;
  // CPU SIMD summation, input bytes per second over the cores HFReduce uses.
  double cpu_reduce_bw = 150e9;
  double nic_bw = 23e9;         // per direction (IB 200 Gb/s ~ 23 GB/s payload)
  double nic_latency = 3e-6;    // per message hop
  // Host-memory copies a NIC byte costs on each side (0: RDMA from/to the
  // buffer; 2 for MPI over shared memory: sender -> bounce buffer -> receiver).
  double nic_host_copies = 0;
  // NCCL: GPU-to-GPU bandwidth over the node's PCIe fabric (P2P through
  // one CPU's root complex, per direction); across the node's CPU sockets
  // (when the GPUs sit on more than one); the per-step latency of its ring
  // and tree (lock step: a ring step ends when its slowest hop, a network
  // step staged through host memory, is done); the tree's efficiency.
  double p2p_bw = 10e9;
  int sockets = 2;
  double xsocket_bw = 9e9;
  double nccl_step_latency = 25e-6;
  double nccl_tree_efficiency = 0.45;
  // HFReduce: bytes per GPU per pipeline chunk and fixed cost per call.
  int64_t chunk_bytes = 4 << 20;
  double call_overhead = 50e-6;
  // Bytes per element of the data (the acc is f32: 4-byte sums).
  int elem_bytes = 4;
};

// FireFlyerA100Preset(): the Fire-Flyer 2 node of the SC'24 paper: 8 PCIe
// A100 (PCIe 4.0 x16), one 200 Gb/s InfiniBand NIC, two CPU sockets.
Hardware FireFlyerA100Preset();

// LocalPreset(host_mem_bw, cache_bytes, cache_bw): this kind of machine run
// as by `hai bench allreduce` (host buffers, MPI over shared memory between
// simulated nodes).
Hardware LocalPreset(double host_mem_bw, int64_t cache_bytes = 0, double cache_bw = 0);

// The time of one allreduce and where it goes.
struct ModelResult {
  double seconds = 0;
  double fill = 0;            // one chunk through every stage
  double per_chunk = 0;       // steady-state time per chunk (the bottleneck)
  int64_t chunks = 0;
  // HFReduce: "host memory", "nic", "pcie", "cpu sum", or "fill" (too few
  // chunks to pipeline); NCCL: "nic", "p2p" or "latency".
  std::string bottleneck;
  // Per-chunk busy time of each resource (HFReduce), for the breakdown.
  double pcie = 0, host_mem = 0, cpu = 0, nic = 0;
};

// TreeDepth(n): hops from the deepest node to the root in tree 0 of the
// double binary tree over n nodes (floor(log2 n) for n >= 1).
int TreeDepth(int n);

// TreeNicFactor(n): the busiest node's bytes per direction over both trees,
// as a multiple of the buffer size S (each tree carries S/2): 0 for n = 1,
// 1 for n = 2, about 2 for larger n.
double TreeNicFactor(int n);

ModelResult ModelHfReduce(const Hardware& hw, int nodes, int64_t bytes);
ModelResult ModelNcclRing(const Hardware& hw, int nodes, int64_t bytes);
ModelResult ModelNcclTree(const Hardware& hw, int nodes, int64_t bytes);

// NcclRingBandwidth(hw, nodes): the ring's per-link bandwidth, its slowest
// hop (the NIC only with more than one node; the socket crossing only when
// the node's GPUs span sockets).
double NcclRingBandwidth(const Hardware& hw, int nodes);

// Elasticity of HFReduce's, NCCL's ring and tree and NCCL's best (the
// faster of the two) time to each input: d ln T / d ln x, by a 10% step;
// the inputs with the largest |value| dominate.
struct Sensitivity {
  std::string input;
  double hfreduce = 0;
  double nccl = 0;
  double ring = 0, tree = 0;
};
std::vector<Sensitivity> Sensitivities(const Hardware& hw, int nodes, int64_t bytes);

}  // namespace hs::hfreduce::sim

#endif  // HFREDUCE_SIM_ALLREDUCE_MODEL_H_
