// File: data/permutation_test.cc
//
// KeyedPermutation is a bijection of [0, n) for awkward n, depends on its
// key, and actually shuffles.
#include "data/permutation.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"

namespace hs::data {
namespace {

std::vector<uint64_t> Image(uint64_t n, uint64_t seed, uint64_t stream) {
  KeyedPermutation perm(n, seed, stream);
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < n; ++i) out.push_back(perm(i));
  return out;
}

TEST(KeyedPermutationTest, IsABijectionForManySizes) {
  for (uint64_t n : {1ull, 2ull, 3ull, 4ull, 5ull, 15ull, 16ull, 17ull, 63ull,
                     64ull, 65ull, 1000ull, 4097ull, 70001ull}) {
    std::vector<uint64_t> image = Image(n, 42, 7);
    std::sort(image.begin(), image.end());
    for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(image[i], i) << "n = " << n;
  }
}

TEST(KeyedPermutationTest, DependsOnKeyAndShuffles) {
  const uint64_t n = 1000;
  std::vector<uint64_t> a = Image(n, 1, 0), b = Image(n, 2, 0),
                        c = Image(n, 1, 1);
  EXPECT_EQ(a, Image(n, 1, 0));  // deterministic
  EXPECT_NE(a, b);               // seed matters
  EXPECT_NE(a, c);               // stream matters
  int fixed_points = 0;
  for (uint64_t i = 0; i < n; ++i) fixed_points += a[i] == i;
  EXPECT_LT(fixed_points, 10);  // a random permutation has ~1
}

}  // namespace
}  // namespace hs::data
