// File: tests/hfreduce/mpi_test_inputs.h
//
// Inputs and checks shared by the multi-rank HFReduce test drivers
// (tests/hfreduce/hfreduce_mpi_test.cc, hfreduce/gpu/staged_allreduce_mpi_test.cc):
// every rank can regenerate every other rank's input from the seed, so each
// computes the naive reference itself.
#ifndef TESTS_HFREDUCE_MPI_TEST_INPUTS_H_
#define TESTS_HFREDUCE_MPI_TEST_INPUTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "haiscale/dtype.h"

namespace hs::hfreduce::testing {

// This process's rank and the world size (set by the driver after
// MPI_Init), and the tally of CHECK_OR_FAIL.
extern int g_rank, g_size;
extern int g_failures, g_checks;

// InputValue(integer, seed, r, i): input element i of rank r. Integer kind:
// small integers, so every sum is exact and known bit for bit. Otherwise
// values in [-1, 1] (sums rounded, so the addition order shows in the bits).
float InputValue(bool integer, uint32_t seed, int r, int64_t i);

// MakeInput(dtype, integer, seed, r, count): rank r's input as dtype bytes
// (one spare byte, so count 0 still has a valid data()).
std::vector<char> MakeInput(DType dtype, bool integer, uint32_t seed, int r, int64_t count);

// Element(buf, dtype, i): element i of a dtype buffer as a float.
float Element(const std::vector<char>& buf, DType dtype, int64_t i);

// Fnv(p, n): FNV-1a of n bytes.
uint64_t Fnv(const void* p, size_t n);

// SameOnAllRanks(h): true when every rank of MPI_COMM_WORLD passed the same h.
bool SameOnAllRanks(uint64_t h);

}  // namespace hs::hfreduce::testing

// CHECK_OR_FAIL(cond, message...): counts a check; on failure prints the
// rank, file:line and message and counts a failure (the driver's exit code
// comes from the failures summed over all ranks).
#define CHECK_OR_FAIL(cond, ...)                                                     \
  do {                                                                               \
    ++::hs::hfreduce::testing::g_checks;                                             \
    if (!(cond)) {                                                                   \
      ++::hs::hfreduce::testing::g_failures;                                         \
      std::fprintf(stderr, "[rank %d] FAIL %s:%d: %s\n", ::hs::hfreduce::testing::g_rank, \
                   __FILE__, __LINE__, absl::StrCat(__VA_ARGS__).c_str());           \
    }                                                                                \
  } while (0)

#endif  // TESTS_HFREDUCE_MPI_TEST_INPUTS_H_
