// File: hfreduce/bench/membw.cc
//
// Measures the machine's memory bandwidth B the way the allreduce bound
// counts it (docs/hfreduce.md): T threads each memcpy their own buffer
// (well beyond the caches) repeatedly; B = bytes read + bytes written per
// second, best of 5 (hfreduce/sim/membw_probe.h).
//
// Usage: bazel run //hfreduce/bench:membw -- [threads] [MiB per thread]
#include <cstdio>
#include <cstdlib>

#include "hfreduce/sim/membw_probe.h"

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const long mib = argc > 2 ? std::atol(argv[2]) : 256;
  const double bw = hs::hfreduce::sim::ProbeMemoryBandwidth(threads, mib << 20, 5);
  std::printf("membw: %d thread(s) x %ld MiB memcpy: %.2f GB/s (read + write, best of 5)\n",
              threads, mib, bw / 1e9);
  return 0;
}
