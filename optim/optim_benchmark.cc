// File: optim/optim_benchmark.cc
//
// Memory-bandwidth benchmark of the optimizer step and the clip norm over
// one flat arena (the ops are bandwidth-bound: AdamW moves 28 bytes per
// element, p/g/m/v read and p/m/v written; SumOfSquares reads 4).
//
//   bazel run -c opt //optim:optim_benchmark -- [num_elements]
//
// Prints: op | elements | threads | ms | GB/s
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "haiscale/rng.h"
#include "optim/adamw.h"
#include "optim/clip.h"

namespace {

template <typename Fn>
double BestMs(Fn fn, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    auto t1 = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    if (ms < best) best = ms;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : (int64_t(1) << 25);
  std::vector<float> p(n), g(n);
  hs::FillNormal(p.data(), n, 1, 1, 0.f, 0.02f);
  hs::FillNormal(g.data(), n, 1, 2, 0.f, 1e-3f);
  auto adamw = hs::optim::AdamW::Create(hs::optim::AdamWOptions{},
                                        hs::optim::DecayMask::AllDecay(n), 0, n);
  if (!adamw.ok()) return 1;
  std::printf("%-12s | %10s | %7s | %8s | %6s\n", "op", "elements", "threads",
              "ms", "GB/s");
  for (int threads = 1; threads <= omp_get_num_procs(); threads *= 2) {
    omp_set_num_threads(threads);
    int64_t step = 0;
    double ms = BestMs(
        [&] { (void)(*adamw)->Step(p.data(), g.data(), 0, n, step++, 1e-4); }, 5);
    std::printf("%-12s | %10lld | %7d | %8.2f | %6.1f\n", "adamw",
                (long long)n, threads, ms, 28.0 * n / ms / 1e6);
    volatile double sink = 0;
    ms = BestMs([&] { sink = sink + hs::optim::SumOfSquares(g.data(), n); }, 5);
    std::printf("%-12s | %10lld | %7d | %8.2f | %6.1f\n", "sum_squares",
                (long long)n, threads, ms, 4.0 * n / ms / 1e6);
  }
  return 0;
}
