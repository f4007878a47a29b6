// File: tests/hfreduce/mpi_test_inputs.cc — see mpi_test_inputs.h.
#include "tests/hfreduce/mpi_test_inputs.h"

#include <mpi.h>

#include <cstring>

namespace hs::hfreduce::testing {

int g_rank = 0, g_size = 1;
int g_failures = 0, g_checks = 0;

float InputValue(bool integer, uint32_t seed, int r, int64_t i) {
  if (integer) return static_cast<float>(((r * 7 + i * 3 + seed) % 17)) - 8.0f;
  uint64_t h = (uint64_t(seed) * 0x9e3779b97f4a7c15ull) ^ (uint64_t(r) << 40) ^ i;
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  return static_cast<float>((h % 2000001) / 1000000.0 - 1.0);
}

std::vector<char> MakeInput(DType dtype, bool integer, uint32_t seed, int r, int64_t count) {
  std::vector<char> buf(count * DTypeSize(dtype) + 1);
  for (int64_t i = 0; i < count; ++i) {
    float v = InputValue(integer, seed, r, i);
    if (dtype == DType::kF32) {
      std::memcpy(buf.data() + 4 * i, &v, 4);
    } else {
      bf16 b = FloatToBf16(v);
      std::memcpy(buf.data() + 2 * i, &b, 2);
    }
  }
  return buf;
}

float Element(const std::vector<char>& buf, DType dtype, int64_t i) {
  if (dtype == DType::kF32) {
    float v;
    std::memcpy(&v, buf.data() + 4 * i, 4);
    return v;
  }
  bf16 b;
  std::memcpy(&b, buf.data() + 2 * i, 2);
  return Bf16ToFloat(b);
}

uint64_t Fnv(const void* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<const uint8_t*>(p)[i];
    h *= 1099511628211ull;
  }
  return h;
}

bool SameOnAllRanks(uint64_t h) {
  uint64_t lo = 0, hi = 0;
  MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi;
}

}  // namespace hs::hfreduce::testing
