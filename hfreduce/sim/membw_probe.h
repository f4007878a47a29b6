// File: hfreduce/sim/membw_probe.h
//
// A short STREAM-like probe of host memory bandwidth, counted the way the
// allreduce model counts it: bytes read + bytes written per second while
// `threads` threads each memcpy their own buffer (far beyond the caches).
//
// Usage:
//   double bw = ProbeMemoryBandwidth(/*threads=*/2, /*bytes_per_thread=*/64 << 20, 3);
#ifndef HFREDUCE_SIM_MEMBW_PROBE_H_
#define HFREDUCE_SIM_MEMBW_PROBE_H_

#include <cstdint>

namespace hs::hfreduce::sim {

// ProbeMemoryBandwidth(threads, bytes_per_thread, reps): best of `reps`, B/s.
double ProbeMemoryBandwidth(int threads, int64_t bytes_per_thread, int reps);

}  // namespace hs::hfreduce::sim

#endif  // HFREDUCE_SIM_MEMBW_PROBE_H_
