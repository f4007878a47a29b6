// File: haiscale/train/cpu_peak.cc — see cpu_peak.h.
#include "haiscale/train/cpu_peak.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace hs::train {
namespace {

double MaxCpuMhz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  double best = 0;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    double mhz = 0;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(colon + 1)), &mhz) && mhz > best)
      best = mhz;
  }
  return best;
}

bool IsAmd() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("vendor_id", 0) == 0) return line.find("AMD") != std::string::npos;
  }
  return false;
}

}  // namespace

CpuPeak EstimateCpuPeak(int threads) {
  CpuPeak peak;
  peak.threads = threads;
  if (const char* env = std::getenv("HS_CPU_PEAK_GFLOPS")) {
    double v = 0;
    if (absl::SimpleAtod(env, &v) && v > 0) {
      peak.gflops = v;
      peak.how = absl::StrFormat("HS_CPU_PEAK_GFLOPS=%g", v);
      return peak;
    }
  }
  __builtin_cpu_init();
  bool avx512 = __builtin_cpu_supports("avx512f");
  bool fma = __builtin_cpu_supports("fma");
  peak.flops_per_cycle = (avx512 && !IsAmd()) ? 64 : (fma ? 32 : 16);
  if (const char* env = std::getenv("HS_CPU_FLOPS_PER_CYCLE")) {
    int v = 0;
    if (absl::SimpleAtoi(env, &v) && v > 0) peak.flops_per_cycle = v;
  }
  double mhz = MaxCpuMhz();
  if (mhz <= 0) mhz = 2000;  // no cpuinfo: assume 2 GHz and say so below
  peak.ghz = mhz / 1000.0;
  peak.gflops = threads * peak.ghz * peak.flops_per_cycle;
  peak.how = absl::StrFormat("%d threads x %.2f GHz x %d fp32 FLOP/cycle (%s)", threads,
                             peak.ghz, peak.flops_per_cycle,
                             avx512 ? (IsAmd() ? "AVX-512 on 2x256-bit FMA" : "AVX-512, 2 FMA units")
                                    : "AVX2+FMA");
  return peak;
}

}  // namespace hs::train
