// File: hfreduce/reduce_kernels_x86.cc — AVX2 and AVX-512 versions of the
// kernels in reduce_kernels.h. Each function carries a target attribute, so
// this file builds with the x86-64-v3 baseline and the AVX-512 code only runs
// after the dispatcher in reduce_kernels.cc checked the CPU.
//
// Per element the operations are exactly the scalar reference's (widen,
// add in source order, divide, round to nearest even), so every level gives
// the same bits. Tails shorter than one vector run the scalar formula.
#include <immintrin.h>

#include <cstring>

#include "hfreduce/reduce_kernels.h"

#define HF_AVX2 __attribute__((target("avx2")))
#define HF_AVX512 __attribute__((target("avx512f,avx512bw")))

namespace hs::hfreduce::internal {
namespace {

// ---------------------------------------------------------------- AVX2 ----

HF_AVX2 inline __m256 LoadBf16x8(const bf16* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

HF_AVX2 inline __m256 LoadAs8(const void* base, int64_t i, bool is_bf16) {
  return is_bf16 ? LoadBf16x8(static_cast<const bf16*>(base) + i)
                 : _mm256_loadu_ps(static_cast<const float*>(base) + i);
}

// Rounds 8 floats to bf16 (nearest even; NaN -> quiet NaN) and stores them.
HF_AVX2 inline void StoreBf16x8(bf16* p, __m256 x) {
  __m256i u = _mm256_castps_si256(x);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i rounded = _mm256_srli_epi32(
      _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
  __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
  // Pack 8 x u32 (all <= 0xffff) into 8 x u16.
  __m256i packed = _mm256_packus_epi32(r, _mm256_setzero_si256());
  packed = _mm256_permute4x64_epi64(packed, 0xd8);  // lanes 0,2,1,3
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
}

// --------------------------------------------------------------- AVX-512 --

HF_AVX512 inline __m512 LoadBf16x16(const bf16* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

HF_AVX512 inline __m512 LoadAs16(const void* base, int64_t i, bool is_bf16) {
  return is_bf16 ? LoadBf16x16(static_cast<const bf16*>(base) + i)
                 : _mm512_loadu_ps(static_cast<const float*>(base) + i);
}

HF_AVX512 inline void StoreBf16x16(bf16* p, __m512 x) {
  __m512i u = _mm512_castps_si512(x);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
  __m512i abs = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  __mmask16 is_nan = _mm512_cmpgt_epi32_mask(abs, _mm512_set1_epi32(0x7f800000));
  __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  __m512i r = _mm512_mask_blend_epi32(is_nan, rounded, quiet);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
}

// Scalar tail shared by both levels (same formula as the reference).
inline void SumTail(const void* const* srcs, int nsrc, bool is_bf16, float* dst,
                    int64_t begin, int64_t n) {
  for (int64_t i = begin; i < n; ++i) {
    float acc = is_bf16 ? Bf16ToFloat(static_cast<const bf16*>(srcs[0])[i])
                        : static_cast<const float*>(srcs[0])[i];
    for (int s = 1; s < nsrc; ++s) {
      acc = acc + (is_bf16 ? Bf16ToFloat(static_cast<const bf16*>(srcs[s])[i])
                           : static_cast<const float*>(srcs[s])[i]);
    }
    dst[i] = acc;
  }
}

inline void ConvertTail(const float* src, int64_t begin, int64_t n, DType dtype,
                        float divisor, void* dst) {
  for (int64_t i = begin; i < n; ++i) {
    float v = divisor == 1.0f ? src[i] : src[i] / divisor;
    if (dtype == DType::kF32) {
      static_cast<float*>(dst)[i] = v;
    } else {
      static_cast<bf16*>(dst)[i] = FloatToBf16(v);
    }
  }
}

inline void OrTail(const void* const* srcs, int nsrc, void* dst, int64_t begin,
                   int64_t nbytes) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t i = begin; i < nbytes; ++i) {
    uint8_t v = static_cast<const uint8_t*>(srcs[0])[i];
    for (int s = 1; s < nsrc; ++s) v |= static_cast<const uint8_t*>(srcs[s])[i];
    out[i] = v;
  }
}

}  // namespace

// Four independent vectors per step hide the add latency; per element the
// chain is still src0 + src1 + ... in order.
HF_AVX2 void SumToF32Avx2(const void* const* srcs, int nsrc, DType dtype,
                          float* dst, int64_t n) {
  const bool b = dtype == DType::kBF16;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 a0 = LoadAs8(srcs[0], i, b), a1 = LoadAs8(srcs[0], i + 8, b);
    __m256 a2 = LoadAs8(srcs[0], i + 16, b), a3 = LoadAs8(srcs[0], i + 24, b);
    for (int s = 1; s < nsrc; ++s) {
      a0 = _mm256_add_ps(a0, LoadAs8(srcs[s], i, b));
      a1 = _mm256_add_ps(a1, LoadAs8(srcs[s], i + 8, b));
      a2 = _mm256_add_ps(a2, LoadAs8(srcs[s], i + 16, b));
      a3 = _mm256_add_ps(a3, LoadAs8(srcs[s], i + 24, b));
    }
    _mm256_storeu_ps(dst + i, a0);
    _mm256_storeu_ps(dst + i + 8, a1);
    _mm256_storeu_ps(dst + i + 16, a2);
    _mm256_storeu_ps(dst + i + 24, a3);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 a = LoadAs8(srcs[0], i, b);
    for (int s = 1; s < nsrc; ++s) a = _mm256_add_ps(a, LoadAs8(srcs[s], i, b));
    _mm256_storeu_ps(dst + i, a);
  }
  SumTail(srcs, nsrc, b, dst, i, n);
}

HF_AVX512 void SumToF32Avx512(const void* const* srcs, int nsrc, DType dtype,
                              float* dst, int64_t n) {
  const bool b = dtype == DType::kBF16;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512 a0 = LoadAs16(srcs[0], i, b), a1 = LoadAs16(srcs[0], i + 16, b);
    __m512 a2 = LoadAs16(srcs[0], i + 32, b), a3 = LoadAs16(srcs[0], i + 48, b);
    for (int s = 1; s < nsrc; ++s) {
      a0 = _mm512_add_ps(a0, LoadAs16(srcs[s], i, b));
      a1 = _mm512_add_ps(a1, LoadAs16(srcs[s], i + 16, b));
      a2 = _mm512_add_ps(a2, LoadAs16(srcs[s], i + 32, b));
      a3 = _mm512_add_ps(a3, LoadAs16(srcs[s], i + 48, b));
    }
    _mm512_storeu_ps(dst + i, a0);
    _mm512_storeu_ps(dst + i + 16, a1);
    _mm512_storeu_ps(dst + i + 32, a2);
    _mm512_storeu_ps(dst + i + 48, a3);
  }
  for (; i + 16 <= n; i += 16) {
    __m512 a = LoadAs16(srcs[0], i, b);
    for (int s = 1; s < nsrc; ++s) a = _mm512_add_ps(a, LoadAs16(srcs[s], i, b));
    _mm512_storeu_ps(dst + i, a);
  }
  SumTail(srcs, nsrc, b, dst, i, n);
}

HF_AVX2 void AccumulateF32Avx2(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i),
                                            _mm256_loadu_ps(src + i)));
  }
  for (; i < n; ++i) dst[i] = dst[i] + src[i];
}

HF_AVX512 void AccumulateF32Avx512(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i),
                                            _mm512_loadu_ps(src + i)));
  }
  for (; i < n; ++i) dst[i] = dst[i] + src[i];
}

HF_AVX2 void ConvertFromF32Avx2(const float* src, int64_t n, DType dtype,
                                float divisor, void* dst) {
  const bool div = divisor != 1.0f;
  const __m256 d = _mm256_set1_ps(divisor);
  int64_t i = 0;
  if (dtype == DType::kF32) {
    float* out = static_cast<float*>(dst);
    if (!div) {
      if (out != src) std::memmove(out, src, n * sizeof(float));
      return;
    }
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_loadu_ps(src + i), d));
    }
  } else {
    bf16* out = static_cast<bf16*>(dst);
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(src + i);
      if (div) v = _mm256_div_ps(v, d);
      StoreBf16x8(out + i, v);
    }
  }
  ConvertTail(src, i, n, dtype, divisor, dst);
}

HF_AVX512 void ConvertFromF32Avx512(const float* src, int64_t n, DType dtype,
                                    float divisor, void* dst) {
  const bool div = divisor != 1.0f;
  const __m512 d = _mm512_set1_ps(divisor);
  int64_t i = 0;
  if (dtype == DType::kF32) {
    float* out = static_cast<float*>(dst);
    if (!div) {
      if (out != src) std::memmove(out, src, n * sizeof(float));
      return;
    }
    for (; i + 16 <= n; i += 16) {
      _mm512_storeu_ps(out + i, _mm512_div_ps(_mm512_loadu_ps(src + i), d));
    }
  } else {
    bf16* out = static_cast<bf16*>(dst);
    for (; i + 16 <= n; i += 16) {
      __m512 v = _mm512_loadu_ps(src + i);
      if (div) v = _mm512_div_ps(v, d);
      StoreBf16x16(out + i, v);
    }
  }
  ConvertTail(src, i, n, dtype, divisor, dst);
}

HF_AVX2 void OrBytesAvx2(const void* const* srcs, int nsrc, void* dst,
                         int64_t nbytes) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 32 <= nbytes; i += 32) {
    __m256i v = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const uint8_t*>(srcs[0]) + i));
    for (int s = 1; s < nsrc; ++s) {
      v = _mm256_or_si256(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                 static_cast<const uint8_t*>(srcs[s]) + i)));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), v);
  }
  OrTail(srcs, nsrc, dst, i, nbytes);
}

HF_AVX512 void OrBytesAvx512(const void* const* srcs, int nsrc, void* dst,
                             int64_t nbytes) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 64 <= nbytes; i += 64) {
    __m512i v = _mm512_loadu_si512(static_cast<const uint8_t*>(srcs[0]) + i);
    for (int s = 1; s < nsrc; ++s) {
      v = _mm512_or_si512(v, _mm512_loadu_si512(static_cast<const uint8_t*>(srcs[s]) + i));
    }
    _mm512_storeu_si512(out + i, v);
  }
  OrTail(srcs, nsrc, dst, i, nbytes);
}

}  // namespace hs::hfreduce::internal
