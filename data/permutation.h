// File: data/permutation.h
//
// KeyedPermutation: a pseudo-random bijection of [0, n) that maps any
// index in O(1) time and memory, keyed by (seed, stream). It is a balanced
// Feistel network (Luby & Rackoff, SIAM J. Comput. 1988) over the smallest
// power-of-four domain >= n, with Philox-4x32-10 (haiscale/rng.h) as the
// round function, restricted to [0, n) by cycle walking (Black & Rogaway,
// CT-RSA 2002): re-encrypt until the value falls inside [0, n). The domain
// is < 4n, so a lookup takes fewer than 4 walks on average.
//
// Unlike a Fisher-Yates shuffle it needs no O(n) table and no replay, so a
// sampler resumed at any step finds its windows directly.
//
// Usage:
//   KeyedPermutation perm(num_windows, seed, /*stream=*/epoch_stream);
//   int64_t window = perm(position);   // position in [0, num_windows)
#ifndef DATA_PERMUTATION_H_
#define DATA_PERMUTATION_H_

#include <cstdint>

#include "haiscale/rng.h"

namespace hs::data {

class KeyedPermutation {
 public:
  // KeyedPermutation(n, seed, stream): n >= 1.
  KeyedPermutation(uint64_t n, uint64_t seed, uint64_t stream);

  // operator()(i): the image of i in [0, n); i must be < n.
  uint64_t operator()(uint64_t i) const;

  uint64_t size() const { return n_; }

 private:
  // Encrypt: one pass of the Feistel network over [0, 4^half_bits_).
  uint64_t Encrypt(uint64_t x) const;

  uint64_t n_;
  int half_bits_;
  uint64_t half_mask_;
  Philox rng_;
};

}  // namespace hs::data

#endif  // DATA_PERMUTATION_H_
