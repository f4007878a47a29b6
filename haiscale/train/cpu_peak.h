// File: haiscale/train/cpu_peak.h
//
// The CPU's theoretical fp32 peak, the denominator of the MFU that
// `hai train` and `hai bench train` report:
//
//   peak = threads x clock x fp32 FLOPs per cycle per core
//
// clock: the highest "cpu MHz" in /proc/cpuinfo (the current clock, which
// under load sits near the boost clock). FLOPs/cycle: 2 FMA pipes x SIMD
// width x 2 (multiply + add): 32 for AVX2/FMA cores and for AMD Zen 4's
// AVX-512 (executed as two 256-bit halves), 64 for Intel cores with two
// 512-bit FMA units (HS_CPU_FLOPS_PER_CYCLE overrides). HS_CPU_PEAK_GFLOPS
// overrides the whole number.
#ifndef HAISCALE_TRAIN_CPU_PEAK_H_
#define HAISCALE_TRAIN_CPU_PEAK_H_

#include <string>

namespace hs::train {

struct CpuPeak {
  double gflops = 0;          // total over `threads`
  double ghz = 0;
  int flops_per_cycle = 0;
  int threads = 0;
  std::string how;            // one line saying how it was computed
};

// EstimateCpuPeak(threads): see the file comment.
CpuPeak EstimateCpuPeak(int threads);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_CPU_PEAK_H_
