// File: hfreduce/sim/allreduce_model.cc — see allreduce_model.h.
#include "hfreduce/sim/allreduce_model.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "hfreduce/tree.h"

namespace hs::hfreduce::sim {

Hardware FireFlyerA100Preset() {
  Hardware hw;  // the defaults are this node; spelled out for the reader
  hw.gpus_per_node = 8;
  hw.pcie_bw = 24e9;      // PCIe 4.0 x16: 32 GB/s raw, ~24 GB/s for copies
  hw.host_mem_bw = 200e9; // 2 sockets x 8 ch DDR4-3200 (410 GB/s peak), ~50%
  hw.nic_bw = 23e9;       // 200 Gb/s = 25 GB/s, ~92% payload
  hw.nic_latency = 3e-6;
  hw.p2p_bw = 10e9;       // GPU P2P through one CPU's root complex
  hw.sockets = 2;         // 4 GPUs per socket, the NIC on one of them
  hw.xsocket_bw = 9e9;    // GPU to GPU across sockets, through host memory
  // Lock-step ring step with a host-staged network hop (no GPUDirect RDMA
  // across the root complex). NCCL's own cost tables say ~10 us per network
  // step; 25 us is what the paper's 1440-GPU figure implies (docs).
  hw.nccl_step_latency = 25e-6;
  hw.nccl_tree_efficiency = 0.45;  // NCCL's cost model: 0.5 x 0.9
  return hw;
}

Hardware LocalPreset(double host_mem_bw, int64_t cache_bytes, double cache_bw) {
  Hardware hw;
  hw.cache_bytes = cache_bytes;
  hw.cache_bw = cache_bw;
  hw.gpus_per_node = 2;
  hw.pcie_bw = 0;  // host buffers
  hw.host_mem_bw = host_mem_bw;
  hw.cpu_reduce_bw = 1e12;  // the sum's memory traffic is in host_mem
  // MPI over shared memory: two copies per byte, each a read and a write.
  hw.nic_host_copies = 2;
  hw.nic_bw = host_mem_bw / 4;
  hw.nic_latency = 5e-6;
  hw.p2p_bw = host_mem_bw / 4;
  hw.sockets = 1;
  hw.xsocket_bw = hw.p2p_bw;
  hw.chunk_bytes = 1 << 20;  // Options::chunk_bytes
  hw.call_overhead = 30e-6;
  return hw;
}

int TreeDepth(int n) {
  int d = 0;
  while ((2 << d) <= n) ++d;
  return d;
}

double TreeNicFactor(int n) {
  if (n <= 1) return 0;
  double worst = 0;
  for (int node = 0; node < n; ++node) {
    double tx = 0, rx = 0;  // in units of S/2 (one tree's half)
    for (int t = 0; t < 2; ++t) {
      TreeLinks l = DoubleTreeLinks(n, node, t);
      const int up = l.parent >= 0, kids = l.num_children();
      tx += up + kids;  // partial sum up, result down to each child
      rx += kids + up;  // partial sums from children, result from parent
    }
    worst = std::max(worst, std::max(tx, rx) / 2);
  }
  return worst;
}

ModelResult ModelHfReduce(const Hardware& hw, int nodes, int64_t bytes) {
  ModelResult r;
  const double G = hw.gpus_per_node, S = static_cast<double>(bytes);
  const double c = std::min<double>(S, hw.chunk_bytes);
  r.chunks = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(S / c)));
  const double acc = c * 4.0 / hw.elem_bytes;  // f32 partial sums of a chunk
  const double nic_factor = TreeNicFactor(nodes);
  // Host memory bytes per chunk on one node.
  double mem = 0;
  if (hw.pcie_bw > 0) {
    mem += G * c;  // D2H writes
    mem += G * c;  // H2D reads
  } else {
    mem += 2 * G * c;  // copy-in: read the buffers, write the slots
    mem += 2 * G * c;  // copy-out: read the result, write the buffers
  }
  mem += G * c + acc;  // the sum reads every slot and writes the acc
  const double nic_bytes = nic_factor * acc;
  mem += 2 * nic_bytes * (1 + 2 * hw.nic_host_copies);  // DMA (+ bounce copies), both ways
  const bool cached = hw.cache_bytes > 0 && hw.cache_bw > hw.host_mem_bw &&
                      2 * G * S <= static_cast<double>(hw.cache_bytes);
  const double mem_bw = cached ? hw.cache_bw : hw.host_mem_bw;
  // A NIC made of host copies (MPI over shared memory) speeds up with them.
  const double nic_bw =
      hw.nic_host_copies > 0 ? hw.nic_bw * (mem_bw / hw.host_mem_bw) : hw.nic_bw;
  r.host_mem = mem / mem_bw;
  r.cpu = G * c / hw.cpu_reduce_bw;
  r.nic = nodes > 1 ? nic_bytes / nic_bw : 0;
  r.pcie = hw.pcie_bw > 0 ? c / hw.pcie_bw : 0;
  r.per_chunk = std::max({r.host_mem, r.cpu, r.nic, r.pcie});
  r.bottleneck = r.per_chunk == r.host_mem ? "host memory"
                 : r.per_chunk == r.nic    ? "nic"
                 : r.per_chunk == r.pcie   ? "pcie"
                                           : "cpu sum";
  // One chunk's trip: D2H, the sum, up and down the tree (each hop carries
  // the chunk's half on its tree), H2D.
  const int depth = TreeDepth(nodes);
  const double hop = nodes > 1 ? hw.nic_latency + acc / 2 / nic_bw : 0;
  const double pcie_trip = hw.pcie_bw > 0 ? hw.pcie_latency + c / hw.pcie_bw : 0;
  r.fill = 2 * pcie_trip + std::max(r.cpu, r.host_mem) + 2 * depth * hop;
  r.seconds = hw.call_overhead + r.fill + (r.chunks - 1) * r.per_chunk;
  // Few chunks: the first chunk's trip, not the steady state, is the time.
  if (r.fill + hw.call_overhead > (r.chunks - 1) * r.per_chunk) r.bottleneck = "fill";
  return r;
}

double NcclRingBandwidth(const Hardware& hw, int nodes) {
  double bw = hw.p2p_bw;
  if (hw.sockets > 1 && hw.gpus_per_node > 1) bw = std::min(bw, hw.xsocket_bw);
  if (nodes > 1) bw = std::min(bw, hw.nic_bw);
  return bw;
}

ModelResult ModelNcclRing(const Hardware& hw, int nodes, int64_t bytes) {
  ModelResult r;
  const double n = static_cast<double>(nodes) * hw.gpus_per_node;
  const double S = static_cast<double>(bytes);
  const double bw = NcclRingBandwidth(hw, nodes);
  const double steps = 2 * (n - 1);
  const double transfer = n > 1 ? steps / n * S / bw : 0;
  const double latency = steps * hw.nccl_step_latency;
  r.seconds = transfer + latency;
  r.per_chunk = transfer;
  r.fill = latency;
  r.chunks = 1;
  r.bottleneck = latency > transfer ? "latency"
                 : bw == hw.nic_bw && nodes > 1 ? "nic"
                 : bw == hw.p2p_bw              ? "p2p"
                                                : "sockets";
  return r;
}

ModelResult ModelNcclTree(const Hardware& hw, int nodes, int64_t bytes) {
  ModelResult r;
  const double S = static_cast<double>(bytes);
  const double chain_bw = NcclRingBandwidth(hw, 1);  // the chain inside the node
  const double eta = hw.nccl_tree_efficiency > 0 ? hw.nccl_tree_efficiency : 1.0;
  const double nic = nodes > 1 ? TreeNicFactor(nodes) * S / hw.nic_bw / eta : 0;
  const double p2p = hw.gpus_per_node > 1 ? S / chain_bw / eta : 0;
  const double latency =
      2.0 * (TreeDepth(nodes) + hw.gpus_per_node - 1) * hw.nccl_step_latency;
  r.seconds = std::max(nic, p2p) + latency;
  r.per_chunk = std::max(nic, p2p);
  r.fill = latency;
  r.chunks = 1;
  r.bottleneck = latency > r.per_chunk ? "latency" : (nic >= p2p ? "nic" : "p2p");
  return r;
}

std::vector<Sensitivity> Sensitivities(const Hardware& hw, int nodes, int64_t bytes) {
  struct Input {
    const char* name;
    std::function<void(Hardware*, double)> scale;
  };
  const std::vector<Input> inputs = {
      {"pcie_bw", [](Hardware* h, double f) { h->pcie_bw *= f; }},
      {"host_mem_bw", [](Hardware* h, double f) { h->host_mem_bw *= f; }},
      {"cpu_reduce_bw", [](Hardware* h, double f) { h->cpu_reduce_bw *= f; }},
      {"nic_bw", [](Hardware* h, double f) { h->nic_bw *= f; }},
      {"nic_latency", [](Hardware* h, double f) { h->nic_latency *= f; }},
      {"p2p_bw", [](Hardware* h, double f) { h->p2p_bw *= f; }},
      {"xsocket_bw", [](Hardware* h, double f) { h->xsocket_bw *= f; }},
      {"nccl_step_latency", [](Hardware* h, double f) { h->nccl_step_latency *= f; }},
      {"nccl_tree_efficiency", [](Hardware* h, double f) { h->nccl_tree_efficiency *= f; }},
      {"call_overhead", [](Hardware* h, double f) { h->call_overhead *= f; }},
  };
  auto nccl = [&](const Hardware& h) {
    return std::min(ModelNcclRing(h, nodes, bytes).seconds,
                    ModelNcclTree(h, nodes, bytes).seconds);
  };
  const double hf0 = ModelHfReduce(hw, nodes, bytes).seconds, nc0 = nccl(hw);
  const double ring0 = ModelNcclRing(hw, nodes, bytes).seconds;
  const double tree0 = ModelNcclTree(hw, nodes, bytes).seconds;
  const double step = std::log(1.1);
  std::vector<Sensitivity> out;
  for (const Input& in : inputs) {
    Hardware h = hw;
    in.scale(&h, 1.1);
    Sensitivity s;
    s.input = in.name;
    s.hfreduce = std::log(ModelHfReduce(h, nodes, bytes).seconds / hf0) / step;
    s.nccl = std::log(nccl(h) / nc0) / step;
    s.ring = std::log(ModelNcclRing(h, nodes, bytes).seconds / ring0) / step;
    s.tree = std::log(ModelNcclTree(h, nodes, bytes).seconds / tree0) / step;
    out.push_back(s);
  }
  return out;
}

}  // namespace hs::hfreduce::sim
