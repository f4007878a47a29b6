// File: hfreduce/reduce_kernels.cc — scalar reference kernels and the
// run-time dispatch; see reduce_kernels.h. The SIMD versions live in
// reduce_kernels_x86.cc.
#include "hfreduce/reduce_kernels.h"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <string>

namespace hs::hfreduce {
namespace {

// The scalar loops are the reference: element-wise, sources in order.
// (-fno-tree-vectorize is not needed: vectorizing these loops keeps the
// per-element operation order, so results are the same bits.)
void SumToF32Scalar(const void* const* srcs, int nsrc, DType dtype, float* dst,
                    int64_t n) {
  if (dtype == DType::kF32) {
    const float* s0 = static_cast<const float*>(srcs[0]);
    for (int64_t i = 0; i < n; ++i) dst[i] = s0[i];
    for (int s = 1; s < nsrc; ++s) {
      const float* src = static_cast<const float*>(srcs[s]);
      for (int64_t i = 0; i < n; ++i) dst[i] = dst[i] + src[i];
    }
    return;
  }
  const bf16* s0 = static_cast<const bf16*>(srcs[0]);
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(s0[i]);
  for (int s = 1; s < nsrc; ++s) {
    const bf16* src = static_cast<const bf16*>(srcs[s]);
    for (int64_t i = 0; i < n; ++i) dst[i] = dst[i] + Bf16ToFloat(src[i]);
  }
}

void AccumulateF32Scalar(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = dst[i] + src[i];
}

void ConvertFromF32Scalar(const float* src, int64_t n, DType dtype,
                          float divisor, void* dst) {
  if (dtype == DType::kF32) {
    float* out = static_cast<float*>(dst);
    if (divisor == 1.0f) {
      if (out != src) std::memmove(out, src, n * sizeof(float));
    } else {
      for (int64_t i = 0; i < n; ++i) out[i] = src[i] / divisor;
    }
    return;
  }
  bf16* out = static_cast<bf16*>(dst);
  if (divisor == 1.0f) {
    for (int64_t i = 0; i < n; ++i) out[i] = FloatToBf16(src[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = FloatToBf16(src[i] / divisor);
  }
}

void OrBytesScalar(const void* const* srcs, int nsrc, void* dst,
                   int64_t nbytes) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  const uint8_t* s0 = static_cast<const uint8_t*>(srcs[0]);
  if (out != s0) std::memmove(out, s0, nbytes);
  for (int s = 1; s < nsrc; ++s) {
    const uint8_t* src = static_cast<const uint8_t*>(srcs[s]);
    for (int64_t i = 0; i < nbytes; ++i) out[i] |= src[i];
  }
}

SimdLevel ReadActiveLevel() {
  SimdLevel level = CpuSimdLevel();
  const char* env = std::getenv("HFREDUCE_SIMD");
  if (env != nullptr) {
    std::string want(env);
    SimdLevel asked = level;
    if (want == "scalar") asked = SimdLevel::kScalar;
    if (want == "avx2") asked = SimdLevel::kAvx2;
    if (want == "avx512") asked = SimdLevel::kAvx512;
    if (static_cast<int>(asked) < static_cast<int>(level)) level = asked;
  }
  return level;
}

}  // namespace

const char* SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
  }
  return "?";
}

SimdLevel CpuSimdLevel() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
    return SimdLevel::kAvx512;
  }
  if (__builtin_cpu_supports("avx2")) return SimdLevel::kAvx2;
  return SimdLevel::kScalar;
}

SimdLevel ActiveSimdLevel() {
  static const SimdLevel level = ReadActiveLevel();
  return level;
}

void SumToF32(const void* const* srcs, int nsrc, DType dtype, float* dst,
              int64_t n, SimdLevel level) {
  if (n <= 0) return;
  switch (level) {
    case SimdLevel::kAvx512:
      return internal::SumToF32Avx512(srcs, nsrc, dtype, dst, n);
    case SimdLevel::kAvx2:
      return internal::SumToF32Avx2(srcs, nsrc, dtype, dst, n);
    case SimdLevel::kScalar:
      return SumToF32Scalar(srcs, nsrc, dtype, dst, n);
  }
}

void SumToF32(const void* const* srcs, int nsrc, DType dtype, float* dst,
              int64_t n) {
  SumToF32(srcs, nsrc, dtype, dst, n, ActiveSimdLevel());
}

void AccumulateF32(float* dst, const float* src, int64_t n, SimdLevel level) {
  if (n <= 0) return;
  switch (level) {
    case SimdLevel::kAvx512:
      return internal::AccumulateF32Avx512(dst, src, n);
    case SimdLevel::kAvx2:
      return internal::AccumulateF32Avx2(dst, src, n);
    case SimdLevel::kScalar:
      return AccumulateF32Scalar(dst, src, n);
  }
}

void AccumulateF32(float* dst, const float* src, int64_t n) {
  AccumulateF32(dst, src, n, ActiveSimdLevel());
}

void ConvertFromF32(const float* src, int64_t n, DType dtype, float divisor,
                    void* dst, SimdLevel level) {
  if (n <= 0) return;
  switch (level) {
    case SimdLevel::kAvx512:
      return internal::ConvertFromF32Avx512(src, n, dtype, divisor, dst);
    case SimdLevel::kAvx2:
      return internal::ConvertFromF32Avx2(src, n, dtype, divisor, dst);
    case SimdLevel::kScalar:
      return ConvertFromF32Scalar(src, n, dtype, divisor, dst);
  }
}

void ConvertFromF32(const float* src, int64_t n, DType dtype, float divisor,
                    void* dst) {
  ConvertFromF32(src, n, dtype, divisor, dst, ActiveSimdLevel());
}

void OrBytes(const void* const* srcs, int nsrc, void* dst, int64_t nbytes,
             SimdLevel level) {
  if (nbytes <= 0) return;
  switch (level) {
    case SimdLevel::kAvx512:
      return internal::OrBytesAvx512(srcs, nsrc, dst, nbytes);
    case SimdLevel::kAvx2:
      return internal::OrBytesAvx2(srcs, nsrc, dst, nbytes);
    case SimdLevel::kScalar:
      return OrBytesScalar(srcs, nsrc, dst, nbytes);
  }
}

void OrBytes(const void* const* srcs, int nsrc, void* dst, int64_t nbytes) {
  OrBytes(srcs, nsrc, dst, nbytes, ActiveSimdLevel());
}

void OrInto(void* dst, const void* src, int64_t nbytes) {
  const void* srcs[2] = {dst, src};
  OrBytes(srcs, 2, dst, nbytes);
}

bool AnyNonzeroF32(const float* x, int64_t n) {
  // The bits without the sign bit, ORed over a block (vectorised).
  constexpr int64_t kBlock = 64;
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    uint32_t any = 0;
    for (int64_t j = 0; j < kBlock; ++j) any |= std::bit_cast<uint32_t>(x[i + j]) << 1;
    if (any != 0) return true;
  }
  uint32_t any = 0;
  for (; i < n; ++i) any |= std::bit_cast<uint32_t>(x[i]) << 1;
  return any != 0;
}

}  // namespace hs::hfreduce
