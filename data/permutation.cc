// File: data/permutation.cc — Feistel permutation with cycle walking, see permutation.h.
#include "data/permutation.h"

#include "haiscale/logging.h"

namespace hs::data {
namespace {

// Rounds of the Feistel network: 4 already give a strong pseudo-random
// permutation with a pseudo-random round function; 6 is a safety margin.
constexpr int kRounds = 6;

}  // namespace

KeyedPermutation::KeyedPermutation(uint64_t n, uint64_t seed, uint64_t stream)
    : n_(n), half_bits_(1), rng_(seed, stream) {
  HS_CHECK(n >= 1) << "KeyedPermutation over an empty range";
  // Smallest h >= 1 with 4^h >= n (h <= 32 for any 64-bit n).
  while (half_bits_ < 32 && (uint64_t(1) << (2 * half_bits_)) < n) ++half_bits_;
  half_mask_ = half_bits_ == 32 ? 0xFFFFFFFFull : (uint64_t(1) << half_bits_) - 1;
}

uint64_t KeyedPermutation::Encrypt(uint64_t x) const {
  uint64_t left = x >> half_bits_, right = x & half_mask_;
  for (int round = 0; round < kRounds; ++round) {
    // F(round, right): one Philox word, counter = (round, right).
    uint64_t f = rng_.Block((uint64_t(round) << 32) | right)[0];
    uint64_t next = (left ^ f) & half_mask_;
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

uint64_t KeyedPermutation::operator()(uint64_t i) const {
  HS_CHECK(i < n_) << "KeyedPermutation index " << i << " >= " << n_;
  if (n_ == 1) return 0;
  uint64_t x = Encrypt(i);
  while (x >= n_) x = Encrypt(x);  // cycle walking: stays a bijection on [0, n)
  return x;
}

}  // namespace hs::data
