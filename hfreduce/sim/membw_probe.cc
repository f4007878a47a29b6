// File: hfreduce/sim/membw_probe.cc — see membw_probe.h.
#include "hfreduce/sim/membw_probe.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace hs::hfreduce::sim {

double ProbeMemoryBandwidth(int threads, int64_t bytes, int reps, int copies) {
  std::vector<char*> src(threads), dst(threads);
  const int64_t rounded = (bytes + 4095) / 4096 * 4096;
  for (int t = 0; t < threads; ++t) {
    src[t] = static_cast<char*>(std::aligned_alloc(4096, rounded));
    dst[t] = static_cast<char*>(std::aligned_alloc(4096, rounded));
    std::memset(src[t], 1, rounded);  // fault the pages in
    std::memset(dst[t], 2, rounded);
  }
  double best = 0;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int k = 0; k < copies; ++k) std::memcpy(dst[t], src[t], rounded);
      });
    }
    for (auto& th : pool) th.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * rounded * threads * copies / s);  // read + write
  }
  for (int t = 0; t < threads; ++t) {
    std::free(src[t]);
    std::free(dst[t]);
  }
  return best;
}

int64_t PrivateCacheBytes() {
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE), cores = sysconf(_SC_NPROCESSORS_ONLN);
  return l2 > 0 && cores > 0 ? static_cast<int64_t>(l2) * cores : 0;
}

}  // namespace hs::hfreduce::sim
