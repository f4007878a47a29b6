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

// ProbeMemoryBandwidth(threads, bytes_per_thread, reps, copies): best of
// `reps`, B/s; each thread copies its buffer `copies` times per rep (many
// for buffers that fit in a cache, so thread start-up does not count).
double ProbeMemoryBandwidth(int threads, int64_t bytes_per_thread, int reps, int copies = 1);

// PrivateCacheBytes(): L2 per core x online cores (0 when unknown): the
// cache tier a node's working set can stay in without other tenants.
int64_t PrivateCacheBytes();

}  // namespace hs::hfreduce::sim

#endif  // HFREDUCE_SIM_MEMBW_PROBE_H_
