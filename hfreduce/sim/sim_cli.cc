// File: hfreduce/sim/sim_cli.cc — `hai sim allreduce`: the allreduce model
// of allreduce_model.h over node counts, with a hardware preset and flags
// for every input; --compare checks it against `hai bench allreduce --csv`.
//
//   hai sim allreduce                              # Fire-Flyer 2 A100 node
//   hai sim allreduce --nodes 2,16,180 --bytes 186M --nic-gbs 46 --csv
//   hai sim allreduce --sensitivity --nodes 16,180
//   hai sim allreduce --preset local --probe-membw --nodes 2 --compare 2x2.csv
//                                                  # model vs measurement
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "hfreduce/bench/bench_allreduce.h"
#include "hfreduce/sim/allreduce_model.h"
#include "hfreduce/sim/membw_probe.h"

namespace hs::hfreduce::sim {
namespace {

absl::StatusOr<std::vector<int>> ParseNodes(const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1 || n > 100000) {
      return absl::InvalidArgumentError(
          absl::StrCat("--nodes: '", part, "' is not a node count in [1, 100000]"));
    }
    out.push_back(n);
  }
  if (out.empty()) return absl::InvalidArgumentError("--nodes: empty list");
  return out;
}

// `hai bench allreduce --csv` rows: bytes -> HFReduce time (us).
absl::StatusOr<std::map<int64_t, double>> ReadBenchCsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::map<int64_t, double> rows;
  std::string line;
  int lineno = 0;
  bool header = false;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    if (!header) {
      if (line.rfind("bytes,hfreduce_time_us", 0) != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":", lineno, ": expected the header of `hai bench allreduce --csv`"));
      }
      header = true;
      continue;
    }
    std::vector<std::string> f = absl::StrSplit(line, ',');
    int64_t b = 0;
    double us = 0;
    if (f.size() < 2 || !absl::SimpleAtoi(f[0], &b) || !absl::SimpleAtod(f[1], &us) ||
        b <= 0 || !(us > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", lineno, ": bad row '", line, "'"));
    }
    rows[b] = us;
  }
  if (rows.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no rows"));
  return rows;
}

struct Flags {
  const char* name;
  double Hardware::*field;
  double scale;  // flag unit -> model unit
  const char* help;
};

const Flags kFlags[] = {
    {"pcie-gbs", &Hardware::pcie_bw, 1e9, "PCIe GB/s per GPU per direction (0: host buffers)"},
    {"pcie-latency-us", &Hardware::pcie_latency, 1e-6, "per D2H/H2D copy"},
    {"host-mem-gbs", &Hardware::host_mem_bw, 1e9, "host memory GB/s, read + write, whole node"},
    {"cpu-reduce-gbs", &Hardware::cpu_reduce_bw, 1e9, "CPU SIMD sum, input GB/s"},
    {"nic-gbs", &Hardware::nic_bw, 1e9, "NIC GB/s per direction (one per node)"},
    {"nic-latency-us", &Hardware::nic_latency, 1e-6, "per message hop"},
    {"nic-host-copies", &Hardware::nic_host_copies, 1, "host copies per NIC byte per side"},
    {"p2p-gbs", &Hardware::p2p_bw, 1e9, "NCCL: GPU-to-GPU GB/s through one CPU"},
    {"xsocket-gbs", &Hardware::xsocket_bw, 1e9, "NCCL: GPU-to-GPU GB/s across CPU sockets"},
    {"nccl-step-us", &Hardware::nccl_step_latency, 1e-6, "NCCL: latency per ring/tree step"},
    {"nccl-tree-efficiency", &Hardware::nccl_tree_efficiency, 1,
     "NCCL: tree's share of the link bandwidth"},
    {"call-overhead-us", &Hardware::call_overhead, 1e-6, "HFReduce: fixed cost per call"},
};

void PrintHardware(const Hardware& hw, const std::string& preset, const char* prefix) {
  std::printf("%shai sim allreduce: preset %s, %d GPUs/node, PCIe %.1f GB/s (+%.0f us), host "
              "memory %.1f GB/s, CPU sum %.1f GB/s, NIC %.1f GB/s (+%.1f us, %g host copies), "
              "P2P %.1f GB/s (%d sockets, %.1f GB/s across), NCCL step %.1f us, tree "
              "efficiency %.2f, chunk %s, call %.0f us, cache %s at %.1f GB/s\n",
              prefix, preset.c_str(), hw.gpus_per_node, hw.pcie_bw / 1e9,
              hw.pcie_latency * 1e6, hw.host_mem_bw / 1e9, hw.cpu_reduce_bw / 1e9,
              hw.nic_bw / 1e9, hw.nic_latency * 1e6, hw.nic_host_copies, hw.p2p_bw / 1e9,
              hw.sockets, hw.xsocket_bw / 1e9, hw.nccl_step_latency * 1e6,
              hw.nccl_tree_efficiency, FormatBytes(hw.chunk_bytes).c_str(),
              hw.call_overhead * 1e6,
              hw.cache_bytes > 0 ? FormatBytes(hw.cache_bytes).c_str() : "none",
              hw.cache_bw / 1e9);
}

int Compare(const Hardware& hw_in, bool overhead_set, int nodes, const std::string& path) {
  auto rows = ReadBenchCsv(path);
  if (!rows.ok()) {
    std::fprintf(stderr, "hai sim allreduce: --compare: %s\n",
                 std::string(rows.status().message()).c_str());
    return 2;
  }
  Hardware hw = hw_in;
  if (!overhead_set) {
    // The fixed cost per call: the smallest excess of a measurement over
    // the model's pipeline (the lower envelope; one slow outlier on a busy
    // machine must not set it).
    hw.call_overhead = 0;
    double fit = -1;
    for (const auto& [b, us] : *rows) {
      const double excess = std::max(0.0, us * 1e-6 - ModelHfReduce(hw, nodes, b).seconds);
      if (fit < 0 || excess < fit) fit = excess;
    }
    hw.call_overhead = fit;
  }
  PrintHardware(hw, "compared", "# ");
  std::printf("# %d nodes x %d; call overhead %s %.1f us\n", nodes, hw.gpus_per_node,
              overhead_set ? "given" : "fitted (smallest excess over the model):", hw.call_overhead * 1e6);
  std::printf("# %10s | %12s %12s %8s | %s\n", "size", "measured_us", "model_us", "model/meas",
              "model bottleneck");
  std::vector<double> ratios;
  for (const auto& [bytes, us] : *rows) {
    ModelResult r = ModelHfReduce(hw, nodes, bytes);
    const double ratio = r.seconds * 1e6 / us;
    ratios.push_back(ratio);
    std::printf("  %10s | %12.1f %12.1f %8.2f | %s\n", FormatBytes(bytes).c_str(), us,
                r.seconds * 1e6, ratio, r.bottleneck.c_str());
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("# model/measured: median %.2f, min %.2f, max %.2f over %zu sizes\n",
              ratios[ratios.size() / 2], ratios.front(), ratios.back(), ratios.size());
  return 0;
}

int SimAllreduce(int argc, char** argv) {
  cli::ArgParser p("hai sim allreduce");
  p.AddString("preset", "fire-flyer-a100", "hardware preset: fire-flyer-a100 or local");
  p.AddString("nodes", "2,4,8,16,32,64,128,180", "node counts, comma-separated");
  p.AddString("bytes", "186M", "allreduce size per GPU (K/M/G suffixes)");
  p.AddInt("gpus-per-node", 0, "GPUs (ranks) per node (0: the preset's)");
  p.AddString("chunk-bytes", "", "HFReduce chunk per GPU (default: the preset's)");
  for (const Flags& f : kFlags) {
    p.AddString(f.name, "", absl::StrCat(f.help, " (default: the preset's)"));
  }
  p.AddBool("probe-membw", "measure this machine's memory bandwidth for --host-mem-gbs "
            "(and, with --preset local, its private caches for --cache-gbs)");
  p.AddString("cache-mib", "", "cache tier size, MiB (0: none; local: L2 x cores)");
  p.AddString("cache-gbs", "", "cache tier bandwidth, read + write GB/s (local: probed)");
  p.AddBool("sensitivity", "print how strongly each input moves the times");
  p.AddBool("csv", "print CSV instead of the table");
  p.AddString("compare", "", "a `hai bench allreduce --csv` file: model vs measured "
              "HFReduce times (one --nodes value)");
  if (int rc = p.ParseOrExitCode(argc, argv); rc >= 0) return rc;

  const std::string preset = p.GetString("preset");
  Hardware hw;
  double probed = 0, probed_cache = 0;
  const int64_t private_cache = PrivateCacheBytes();
  if (p.GetBool("probe-membw")) {
    const int threads = std::max(1u, std::thread::hardware_concurrency());
    probed = ProbeMemoryBandwidth(threads, int64_t{64} << 20, 3);
    // Source and destination together in half of each core's share.
    if (preset == "local" && private_cache > 0) {
      probed_cache = ProbeMemoryBandwidth(threads, private_cache / threads / 4, 5, 64);
    }
  }
  if (preset == "fire-flyer-a100") {
    hw = FireFlyerA100Preset();
  } else if (preset == "local") {
    if (probed == 0 && !p.IsSet("host-mem-gbs")) {
      std::fprintf(stderr, "hai sim allreduce: --preset local needs --probe-membw or "
                           "--host-mem-gbs\n");
      return 2;
    }
    double mem = 0;
    if (probed == 0 && !absl::SimpleAtod(p.GetString("host-mem-gbs"), &mem)) mem = 0;
    hw = LocalPreset(probed > 0 ? probed : mem * 1e9, private_cache, probed_cache);
  } else {
    std::fprintf(stderr, "hai sim allreduce: --preset: unknown '%s' (fire-flyer-a100 or local)\n",
                 preset.c_str());
    return 2;
  }
  if (probed > 0) hw.host_mem_bw = probed;
  // Every numeric flag: finite and >= 0, or a clear error naming it.
  auto number = [&](const char* name, double* v) {
    if (!absl::SimpleAtod(p.GetString(name), v) || !(*v >= 0) || !std::isfinite(*v)) {
      std::fprintf(stderr, "hai sim allreduce: --%s must be a finite number >= 0, got '%s'\n",
                   name, p.GetString(name).c_str());
      return false;
    }
    return true;
  };
  double v = 0;
  if (p.IsSet("cache-mib")) {
    if (!number("cache-mib", &v)) return 2;
    hw.cache_bytes = static_cast<int64_t>(v * (1 << 20));
  }
  if (p.IsSet("cache-gbs")) {
    if (!number("cache-gbs", &v)) return 2;
    hw.cache_bw = v * 1e9;
  }
  for (const Flags& f : kFlags) {
    if (!p.IsSet(f.name)) continue;
    if (!number(f.name, &v)) return 2;
    hw.*f.field = v * f.scale;
  }
  for (const char* must : {"host-mem-gbs", "cpu-reduce-gbs", "nic-gbs", "p2p-gbs",
                           "xsocket-gbs", "nccl-tree-efficiency"}) {
    for (const Flags& f : kFlags) {
      if (std::string(f.name) == must && !(hw.*f.field > 0)) {
        std::fprintf(stderr, "hai sim allreduce: --%s must be > 0\n", must);
        return 2;
      }
    }
  }
  if (hw.nccl_tree_efficiency > 1) {
    std::fprintf(stderr, "hai sim allreduce: --nccl-tree-efficiency must be in (0, 1]\n");
    return 2;
  }
  if (p.GetInt("gpus-per-node") < 0 || p.GetInt("gpus-per-node") > 1024) {
    std::fprintf(stderr, "hai sim allreduce: --gpus-per-node must be in [1, 1024]\n");
    return 2;
  }
  if (p.GetInt("gpus-per-node") > 0) hw.gpus_per_node = static_cast<int>(p.GetInt("gpus-per-node"));
  if (!p.GetString("chunk-bytes").empty()) {
    auto c = ParseByteSize(p.GetString("chunk-bytes"));
    if (!c.ok()) {
      std::fprintf(stderr, "hai sim allreduce: --chunk-bytes: %s\n",
                   std::string(c.status().message()).c_str());
      return 2;
    }
    hw.chunk_bytes = *c;
  }
  auto nodes = ParseNodes(p.GetString("nodes"));
  auto bytes = ParseByteSize(p.GetString("bytes"));
  if (!nodes.ok() || !bytes.ok()) {
    std::fprintf(stderr, "hai sim allreduce: %s\n",
                 std::string((!nodes.ok() ? nodes.status() : bytes.status()).message()).c_str());
    return 2;
  }
  if (!p.GetString("compare").empty()) {
    if (nodes->size() != 1) {
      std::fprintf(stderr, "hai sim allreduce: --compare takes one --nodes value\n");
      return 2;
    }
    return Compare(hw, p.IsSet("call-overhead-us"), nodes->front(), p.GetString("compare"));
  }

  const bool csv = p.GetBool("csv");
  const double S = static_cast<double>(*bytes);
  PrintHardware(hw, preset + (probed > 0 ? " (memory probed)" : ""), "# ");
  if (csv) {
    std::printf("nodes,gpus,bytes,hfreduce_us,hfreduce_algbw_gbs,hfreduce_bottleneck,ring_us,"
                "ring_algbw_gbs,tree_us,tree_algbw_gbs,nccl_algbw_gbs\n");
  } else {
    std::printf("# algbw = bytes per GPU / time (GB/s = 1e9 B/s), size %s\n",
                FormatBytes(*bytes).c_str());
    std::printf("# %6s %6s | %10s %8s %-12s | %10s %8s | %10s %8s | %8s %7s\n", "nodes", "gpus",
                "hf_ms", "hf_algbw", "bottleneck", "ring_ms", "algbw", "tree_ms", "algbw",
                "nccl", "hf/nccl");
  }
  for (int n : *nodes) {
    const ModelResult hf = ModelHfReduce(hw, n, *bytes);
    const ModelResult ring = ModelNcclRing(hw, n, *bytes);
    const ModelResult tree = ModelNcclTree(hw, n, *bytes);
    const double nccl = S / std::min(ring.seconds, tree.seconds) / 1e9;
    const double hf_alg = S / hf.seconds / 1e9;
    if (csv) {
      std::printf("%d,%d,%ld,%.1f,%.3f,%s,%.1f,%.3f,%.1f,%.3f,%.3f\n", n, n * hw.gpus_per_node,
                  *bytes, hf.seconds * 1e6, hf_alg, hf.bottleneck.c_str(), ring.seconds * 1e6,
                  S / ring.seconds / 1e9, tree.seconds * 1e6, S / tree.seconds / 1e9, nccl);
    } else {
      std::printf("  %6d %6d | %10.2f %8.2f %-12s | %10.2f %8.2f | %10.2f %8.2f | %8.2f %7.2f\n",
                  n, n * hw.gpus_per_node, hf.seconds * 1e3, hf_alg, hf.bottleneck.c_str(),
                  ring.seconds * 1e3, S / ring.seconds / 1e9, tree.seconds * 1e3,
                  S / tree.seconds / 1e9, nccl, hf_alg / nccl);
    }
  }
  if (p.GetBool("sensitivity")) {
    std::printf("#\n# elasticity d ln(time) / d ln(input) (-1: time halves when the input "
                "doubles; 0: no effect)\n");
    for (int n : *nodes) {
      std::printf("# %d nodes: %-18s %9s %9s %9s %9s\n", n, "input", "hfreduce", "nccl",
                  "ring", "tree");
      for (const Sensitivity& s : Sensitivities(hw, n, *bytes)) {
        std::printf("#   %-26s %9.2f %9.2f %9.2f %9.2f\n", s.input.c_str(), s.hfreduce, s.nccl,
                    s.ring, s.tree);
      }
    }
  }
  return 0;
}

}  // namespace

HS_REGISTER_SUBCOMMAND("sim allreduce",
                       "model of HFReduce vs NCCL ring/tree allreduce at cluster scale",
                       SimAllreduce);

}  // namespace hs::hfreduce::sim
