// File: hfreduce/reduce_kernels.h
//
// The SIMD reduction kernels of HFReduce's node-local phase and of the tree
// phase. Floating-point sums are computed in f32 in a fixed order (source 0,
// then 1, then 2, ... element by element; no FMA, no reassociation), so the
// scalar, AVX2 and AVX-512 versions give bit-identical results and the whole
// allreduce is deterministic. bf16 inputs are widened exactly to f32 and the
// result is rounded to bf16 once (round to nearest even, as hs::FloatToBf16).
// The byte-wise OR kernels move raw data for AllGather and Broadcast, which
// HFReduce runs as an OR-reduction of zero-padded inputs (exact for any bit
// pattern).
//
// The implementation is picked at run time: AVX-512 when the CPU supports
// avx512f+avx512bw, else AVX2, else scalar (`__builtin_cpu_supports`; the
// AVX-512 code is compiled with function target attributes so the baseline
// build stays x86-64-v3). HFREDUCE_SIMD=scalar|avx2|avx512 forces a level
// (clamped to what the CPU has).
//
// Usage:
//   const void* srcs[3] = {a, b, c};                  // bf16 inputs
//   SumToF32(srcs, 3, DType::kBF16, acc, n);           // acc = a + b + c
//   AccumulateF32(acc, remote, n);                     // acc += remote
//   ConvertFromF32(acc, n, DType::kBF16, 3.0f, out);   // out = bf16(acc / 3)
#ifndef HFREDUCE_REDUCE_KERNELS_H_
#define HFREDUCE_REDUCE_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "haiscale/dtype.h"

namespace hs::hfreduce {

enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// SimdLevelName(level): "scalar", "avx2" or "avx512".
const char* SimdLevelName(SimdLevel level);

// CpuSimdLevel(): the best level this CPU supports.
SimdLevel CpuSimdLevel();

// ActiveSimdLevel(): the level the dispatching kernels use (CpuSimdLevel(),
// lowered by HFREDUCE_SIMD); read once.
SimdLevel ActiveSimdLevel();

// SumToF32(srcs, nsrc, dtype, dst, n)
//
// dst[i] = (((src0[i] + src1[i]) + src2[i]) + ...) in f32, for n elements of
// each of the nsrc >= 1 sources, which hold `dtype` (kF32 or kBF16). dst may
// alias no source except src0 when dtype is kF32.
void SumToF32(const void* const* srcs, int nsrc, DType dtype, float* dst,
              int64_t n);
void SumToF32(const void* const* srcs, int nsrc, DType dtype, float* dst,
              int64_t n, SimdLevel level);

// AccumulateF32(dst, src, n): dst[i] = dst[i] + src[i].
void AccumulateF32(float* dst, const float* src, int64_t n);
void AccumulateF32(float* dst, const float* src, int64_t n, SimdLevel level);

// ConvertFromF32(src, n, dtype, divisor, dst)
//
// dst[i] = src[i] / divisor (skipped when divisor == 1), stored as `dtype`
// (kF32: copied; kBF16: rounded to nearest even).
void ConvertFromF32(const float* src, int64_t n, DType dtype, float divisor,
                    void* dst);
void ConvertFromF32(const float* src, int64_t n, DType dtype, float divisor,
                    void* dst, SimdLevel level);

// OrBytes(srcs, nsrc, dst, nbytes): dst = src0 | src1 | ... byte-wise.
void OrBytes(const void* const* srcs, int nsrc, void* dst, int64_t nbytes);
void OrBytes(const void* const* srcs, int nsrc, void* dst, int64_t nbytes,
             SimdLevel level);

// OrInto(dst, src, nbytes): dst |= src byte-wise.
void OrInto(void* dst, const void* src, int64_t nbytes);

// AnyNonzeroF32(x, n): whether any of the n floats is nonzero. +0 and -0
// are zero; a NaN or an infinity is nonzero. Stops at the first 64-element
// block that has one (a zero row is read whole, a nonzero one usually not).
bool AnyNonzeroF32(const float* x, int64_t n);

namespace internal {
// Per-level entry points (reduce_kernels_x86.cc); callers use the dispatchers.
void SumToF32Avx2(const void* const* srcs, int nsrc, DType dtype, float* dst,
                  int64_t n);
void SumToF32Avx512(const void* const* srcs, int nsrc, DType dtype, float* dst,
                    int64_t n);
void AccumulateF32Avx2(float* dst, const float* src, int64_t n);
void AccumulateF32Avx512(float* dst, const float* src, int64_t n);
void ConvertFromF32Avx2(const float* src, int64_t n, DType dtype,
                        float divisor, void* dst);
void ConvertFromF32Avx512(const float* src, int64_t n, DType dtype,
                          float divisor, void* dst);
void OrBytesAvx2(const void* const* srcs, int nsrc, void* dst, int64_t nbytes);
void OrBytesAvx512(const void* const* srcs, int nsrc, void* dst,
                   int64_t nbytes);
}  // namespace internal

}  // namespace hs::hfreduce

#endif  // HFREDUCE_REDUCE_KERNELS_H_
