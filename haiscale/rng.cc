// File: haiscale/rng.cc — Philox-4x32-10, see rng.h.
#include "haiscale/rng.h"

#include <cmath>

namespace hs {
namespace {

constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;

// Below this many Philox blocks a fill runs on the calling thread (a
// parallel region costs more than it saves).
constexpr int64_t kParallelBlocks = 16384;

inline void MulHiLo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  *lo = uint32_t(p);
}

}  // namespace

std::array<uint32_t, 4> Philox::Block(uint64_t counter) const {
  // Counter words: (counter, stream); key words: seed.
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32);
  uint32_t c2 = uint32_t(stream_), c3 = uint32_t(stream_ >> 32);
  uint32_t k0 = uint32_t(seed_), k1 = uint32_t(seed_ >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(kMul0, c0, &hi0, &lo0);
    MulHiLo(kMul1, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0;
    uint32_t n1 = lo1;
    uint32_t n2 = hi0 ^ c3 ^ k1;
    uint32_t n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

uint64_t Philox::Uint64Below(uint64_t i, uint64_t n) const {
  auto b = Block(i);
  uint64_t r = (uint64_t(b[0]) << 32) | b[1];
  return uint64_t((static_cast<unsigned __int128>(r) * n) >> 64);
}

uint64_t StreamId(absl::string_view name) {
  uint64_t h = 1469598103934665603ull;
  for (char c : name) {
    h ^= uint8_t(c);
    h *= 1099511628211ull;
  }
  return h;
}

void FillNormal(float* out, int64_t n, uint64_t seed, uint64_t stream,
                float mean, float std) {
  const Philox rng(seed, stream);
  // Each Philox block gives 4 words -> 2 Box-Muller pairs -> 4 normals.
  // Element i depends on (seed, stream, i) only, so the blocks can be
  // split across threads in any way and the result stays bit-identical.
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (blocks >= kParallelBlocks)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const auto b = rng.Block(uint64_t(blk));
    const int64_t base = blk * 4;
    for (int pair = 0; pair < 2; ++pair) {
      // u1 in (0, 1] so log(u1) is finite.
      double u1 = (double(b[2 * pair] >> 8) + 1.0) / 16777216.0;
      double u2 = double(b[2 * pair + 1] >> 8) / 16777216.0;
      double radius = std::sqrt(-2.0 * std::log(u1));
      double angle = 2.0 * M_PI * u2;
      int64_t i0 = base + 2 * pair, i1 = i0 + 1;
      if (i0 < n) out[i0] = mean + std * float(radius * std::cos(angle));
      if (i1 < n) out[i1] = mean + std * float(radius * std::sin(angle));
    }
  }
}

void FillUniform(float* out, int64_t n, uint64_t seed, uint64_t stream,
                 float lo, float hi) {
  const Philox rng(seed, stream);
#pragma omp parallel for schedule(static) if (n >= 4 * kParallelBlocks)
  for (int64_t i = 0; i < n; ++i) out[i] = lo + (hi - lo) * rng.Uniform(i);
}

}  // namespace hs
