// File: haiscale/rng.h
//
// Counter-based random numbers (Philox-4x32-10, Salmon et al., SC'11).
// A value is a pure function of (seed, stream, index): any rank, thread or
// resumed run reproduces any element of any tensor without replaying a
// sequence. Streams separate users of one seed (e.g. one stream per
// parameter tensor, hashed from its name).
//
// Usage:
//   FillNormal(w.data<float>(), w.numel(), seed, StreamId("lm_head.weight"), 0.f, 0.02f);
//   Philox rng(seed, stream);  uint32_t r = rng.Uint32(i);
#ifndef HAISCALE_RNG_H_
#define HAISCALE_RNG_H_

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace hs {

// Philox4x32 keyed by (seed, stream); Block(counter) gives 4 random words.
class Philox {
 public:
  Philox(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}

  // Block(counter): the 4 x 32-bit outputs for one 64-bit counter.
  std::array<uint32_t, 4> Block(uint64_t counter) const;

  // Uint32(i): the i-th 32-bit word of this stream.
  uint32_t Uint32(uint64_t i) const { return Block(i >> 2)[i & 3]; }

  // Uniform(i): the i-th float in [0, 1), 24 bits of mantissa.
  float Uniform(uint64_t i) const {
    return float(Uint32(i) >> 8) * (1.0f / 16777216.0f);
  }

  // Uint64Below(i, n): the i-th integer in [0, n), without modulo bias
  // worth measuring for n < 2^32 (64-bit multiply-shift).
  uint64_t Uint64Below(uint64_t i, uint64_t n) const;

 private:
  uint64_t seed_;
  uint64_t stream_;
};

// StreamId(name): stable 64-bit hash (FNV-1a) naming a stream.
uint64_t StreamId(absl::string_view name);

// FillNormal: out[i] = mean + std * N(0,1) from (seed, stream, i), Box-Muller.
// Large fills run on the OpenMP threads (SetNumThreads); every element is a
// function of its index alone, so the result is bit-identical for any
// thread count.
void FillNormal(float* out, int64_t n, uint64_t seed, uint64_t stream,
                float mean, float std);

// FillUniform: out[i] = lo + (hi - lo) * U[0,1) from (seed, stream, i);
// multithreaded like FillNormal, with the same guarantee.
void FillUniform(float* out, int64_t n, uint64_t seed, uint64_t stream,
                 float lo, float hi);

}  // namespace hs

#endif  // HAISCALE_RNG_H_
