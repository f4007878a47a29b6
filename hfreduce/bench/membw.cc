// File: hfreduce/bench/membw.cc
//
// Measures the machine's memory bandwidth B the way the allreduce bound
// counts it (docs/hfreduce.md): T threads each memcpy their own 256 MiB
// buffer (well beyond the caches) repeatedly; B = bytes read + bytes
// written per second, best of the repetitions.
//
// Usage: bazel run //hfreduce/bench:membw -- [threads] [MiB per thread]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const size_t bytes = (argc > 2 ? std::atol(argv[2]) : 256) << 20;
  std::vector<char*> src(threads), dst(threads);
  for (int t = 0; t < threads; ++t) {
    src[t] = static_cast<char*>(std::aligned_alloc(4096, bytes));
    dst[t] = static_cast<char*>(std::aligned_alloc(4096, bytes));
    std::memset(src[t], 1, bytes);  // fault the pages in
    std::memset(dst[t], 2, bytes);
  }
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] { std::memcpy(dst[t], src[t], bytes); });
    }
    for (auto& th : pool) th.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gbs = 2.0 * bytes * threads / s / 1e9;  // read + write
    if (gbs > best) best = gbs;
  }
  std::printf("membw: %d thread(s) x %zu MiB memcpy: %.2f GB/s (read + write, best of 5)\n",
              threads, bytes >> 20, best);
  for (int t = 0; t < threads; ++t) {
    std::free(src[t]);
    std::free(dst[t]);
  }
  return 0;
}
