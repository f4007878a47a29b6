// File: haiscale/round_stats.h
//
// Statistics of interleaved benchmark rounds: two variants timed in
// alternating rounds of one run (so a drift of the machine's speed, or
// where the scheduler placed the processes for this run, weighs on both
// alike), compared round by round. The benchmarks that alternate
// (`hai bench allreduce --rounds`, `hai bench train --against`) report the
// median of the per-round ratios with their range, and in how many rounds
// one side was lower.
//
// Usage:
//   RoundComparison c = CompareRounds(hf_seconds, mpi_seconds);
//   printf("%.2fx (%.2f-%.2f), lower in %d, higher in %d of %d (sign test p %.3f)\n",
//          c.median, c.min, c.max, c.lower, c.higher, c.rounds, c.sign_p());
#ifndef HAISCALE_ROUND_STATS_H_
#define HAISCALE_ROUND_STATS_H_

#include <cstdint>
#include <vector>

namespace hs {

// MedianOf(v): the median (the mean of the middle two for an even count);
// 0 for none.
double MedianOf(std::vector<double> v);

// MeanOf(v): the arithmetic mean; 0 for none.
double MeanOf(const std::vector<double>& v);

// Per-round ratios a[i] / b[i] of two paired series.
struct RoundComparison {
  double median = 0, min = 0, max = 0;  // of the per-round ratios
  int lower = 0;   // rounds with a[i] < b[i]
  int higher = 0;  // rounds with a[i] > b[i]
  int rounds = 0;  // pairs compared (rounds where b[i] == 0 are left out)
  // Two-sided exact sign test of lower against higher (ties left out): the
  // chance of a split at least this uneven if neither side were faster.
  // 1 when nothing was compared. 4 of 18 rounds lower gives 0.031.
  double sign_p() const;
};

// SignTestP(k, n): two-sided exact binomial sign test, P(X <= min(k, n-k))
// + P(X >= max(k, n-k)) for X ~ Binomial(n, 1/2), capped at 1.
double SignTestP(int k, int n);

// CompareRounds(a, b): the per-round ratios a[i] / b[i] over the pairs both
// series have, summarised.
RoundComparison CompareRounds(const std::vector<double>& a, const std::vector<double>& b);

// RoundMeans(per_step, steps_per_round): the mean of each consecutive run
// of steps_per_round values (a last, shorter run too).
std::vector<double> RoundMeans(const std::vector<double>& per_step, int64_t steps_per_round);

}  // namespace hs

#endif  // HAISCALE_ROUND_STATS_H_
