// File: hfreduce/reduce_kernels_x86.cc — AVX2 and AVX-512 versions of the
// kernels in reduce_kernels.h, from one template over the vector width W
// (8 floats: AVX2, 16 floats: AVX-512).
//
// The template is written with GCC vector extensions (vector_size types and
// their +, /, shifts, compares) rather than per-width intrinsics, and is
// always inlined into per-level entry points that carry a target attribute:
// the same source becomes ymm code in the AVX2 entry points and zmm code in
// the AVX-512 ones. The file builds with the x86-64-v3 baseline and the
// AVX-512 code only runs after the dispatcher in reduce_kernels.cc checked
// the CPU.
//
// Per element the operations are exactly the scalar reference's (widen,
// add in source order, divide, round to nearest even), so every level gives
// the same bits. Tails shorter than one vector run the scalar formula.
#include <cstring>

#include "hfreduce/reduce_kernels.h"

// The 512-bit helpers are always inlined into AVX-512 functions: no call
// ever passes a zmm vector, so the ABI note does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#define HF_AVX2 __attribute__((target("avx2")))
#define HF_AVX512 __attribute__((target("avx512f,avx512bw")))
#define HF_INLINE __attribute__((always_inline)) inline

namespace hs::hfreduce::internal {
namespace {

// Vectors of W lanes: floats, their bits, bf16 halves, and the same bytes.
template <int W>
struct VecTypes;
template <>
struct VecTypes<8> {
  typedef float F __attribute__((vector_size(32)));
  typedef uint32_t U __attribute__((vector_size(32)));
  typedef uint16_t H __attribute__((vector_size(16)));
  typedef uint8_t B __attribute__((vector_size(32)));
};
template <>
struct VecTypes<16> {
  typedef float F __attribute__((vector_size(64)));
  typedef uint32_t U __attribute__((vector_size(64)));
  typedef uint16_t H __attribute__((vector_size(32)));
  typedef uint8_t B __attribute__((vector_size(64)));
};

template <int W>
struct Vec : VecTypes<W> {
  using F = typename VecTypes<W>::F;
  using U = typename VecTypes<W>::U;
  using H = typename VecTypes<W>::H;
  using B = typename VecTypes<W>::B;

  template <typename V, typename T>
  static HF_INLINE V Load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  template <typename V, typename T>
  static HF_INLINE void Store(T* p, V v) {
    std::memcpy(p, &v, sizeof(V));
  }

  static HF_INLINE F LoadBf16(const bf16* p) {
    return (F)(__builtin_convertvector(Load<H>(p), U) << 16);
  }
  static HF_INLINE F LoadAs(const void* base, int64_t i, bool is_bf16) {
    return is_bf16 ? LoadBf16(static_cast<const bf16*>(base) + i)
                   : Load<F>(static_cast<const float*>(base) + i);
  }
  // Rounds W floats to bf16 (nearest even; NaN -> quiet NaN), stores them.
  static HF_INLINE void StoreBf16(bf16* p, F x) {
    const U u = (U)x;
    const U rounded = (u + (0x7fffu + ((u >> 16) & 1u))) >> 16;
    const U quiet = (u >> 16) | 0x40u;
    const U r = (u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded;
    Store(p, __builtin_convertvector(r, H));
  }
};

// Scalar tails (same formulas as the reference).
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

// Four independent vectors per step hide the add latency; per element the
// chain is still src0 + src1 + ... in order.
template <int W>
HF_INLINE void SumToF32Impl(const void* const* srcs, int nsrc, DType dtype, float* dst,
                            int64_t n) {
  using V = Vec<W>;
  const bool b = dtype == DType::kBF16;
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    typename V::F a[4];
    for (int k = 0; k < 4; ++k) a[k] = V::LoadAs(srcs[0], i + k * W, b);
    for (int s = 1; s < nsrc; ++s) {
      for (int k = 0; k < 4; ++k) a[k] = a[k] + V::LoadAs(srcs[s], i + k * W, b);
    }
    for (int k = 0; k < 4; ++k) V::Store(dst + i + k * W, a[k]);
  }
  for (; i + W <= n; i += W) {
    typename V::F a = V::LoadAs(srcs[0], i, b);
    for (int s = 1; s < nsrc; ++s) a = a + V::LoadAs(srcs[s], i, b);
    V::Store(dst + i, a);
  }
  SumTail(srcs, nsrc, b, dst, i, n);
}

template <int W>
HF_INLINE void AccumulateF32Impl(float* dst, const float* src, int64_t n) {
  using V = Vec<W>;
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    V::Store(dst + i, V::template Load<typename V::F>(dst + i) +
                          V::template Load<typename V::F>(src + i));
  }
  for (; i < n; ++i) dst[i] = dst[i] + src[i];
}

template <int W>
HF_INLINE void ConvertFromF32Impl(const float* src, int64_t n, DType dtype, float divisor,
                                  void* dst) {
  using V = Vec<W>;
  using F = typename V::F;
  const bool div = divisor != 1.0f;
  const F d = F{} + divisor;
  int64_t i = 0;
  if (dtype == DType::kF32) {
    float* out = static_cast<float*>(dst);
    if (!div) {
      if (out != src) std::memmove(out, src, n * sizeof(float));
      return;
    }
    for (; i + W <= n; i += W) V::Store(out + i, V::template Load<F>(src + i) / d);
  } else {
    bf16* out = static_cast<bf16*>(dst);
    for (; i + W <= n; i += W) {
      F v = V::template Load<F>(src + i);
      if (div) v = v / d;
      V::StoreBf16(out + i, v);
    }
  }
  ConvertTail(src, i, n, dtype, divisor, dst);
}

template <int W>
HF_INLINE void OrBytesImpl(const void* const* srcs, int nsrc, void* dst, int64_t nbytes) {
  using V = Vec<W>;
  using B = typename V::B;
  constexpr int64_t kBytes = sizeof(B);
  uint8_t* out = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + kBytes <= nbytes; i += kBytes) {
    B v = V::template Load<B>(static_cast<const uint8_t*>(srcs[0]) + i);
    for (int s = 1; s < nsrc; ++s) {
      v = v | V::template Load<B>(static_cast<const uint8_t*>(srcs[s]) + i);
    }
    V::Store(out + i, v);
  }
  OrTail(srcs, nsrc, dst, i, nbytes);
}

}  // namespace

// The entry points: one instantiation per level, compiled for its target.
HF_AVX2 void SumToF32Avx2(const void* const* srcs, int nsrc, DType dtype, float* dst,
                          int64_t n) {
  SumToF32Impl<8>(srcs, nsrc, dtype, dst, n);
}
HF_AVX512 void SumToF32Avx512(const void* const* srcs, int nsrc, DType dtype, float* dst,
                              int64_t n) {
  SumToF32Impl<16>(srcs, nsrc, dtype, dst, n);
}
HF_AVX2 void AccumulateF32Avx2(float* dst, const float* src, int64_t n) {
  AccumulateF32Impl<8>(dst, src, n);
}
HF_AVX512 void AccumulateF32Avx512(float* dst, const float* src, int64_t n) {
  AccumulateF32Impl<16>(dst, src, n);
}
HF_AVX2 void ConvertFromF32Avx2(const float* src, int64_t n, DType dtype, float divisor,
                                void* dst) {
  ConvertFromF32Impl<8>(src, n, dtype, divisor, dst);
}
HF_AVX512 void ConvertFromF32Avx512(const float* src, int64_t n, DType dtype, float divisor,
                                    void* dst) {
  ConvertFromF32Impl<16>(src, n, dtype, divisor, dst);
}
HF_AVX2 void OrBytesAvx2(const void* const* srcs, int nsrc, void* dst, int64_t nbytes) {
  OrBytesImpl<8>(srcs, nsrc, dst, nbytes);
}
HF_AVX512 void OrBytesAvx512(const void* const* srcs, int nsrc, void* dst, int64_t nbytes) {
  OrBytesImpl<16>(srcs, nsrc, dst, nbytes);
}

}  // namespace hs::hfreduce::internal
