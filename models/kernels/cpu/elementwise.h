// File: models/kernels/cpu/elementwise.h
//
// Small fused elementwise kernels (OpenMP over elements/rows).
#ifndef MODELS_KERNELS_CPU_ELEMENTWISE_H_
#define MODELS_KERNELS_CPU_ELEMENTWISE_H_

#include <cstdint>

namespace hs::kernels::cpu {

// Add: out[i] = a[i] + b[i]. `out` may alias `a` or `b`.
void Add(float* out, const float* a, const float* b, int64_t n);

// AddInPlace: y[i] += x[i].
void AddInPlace(float* y, const float* x, int64_t n);

// Axpy: y[i] += alpha * x[i].
void Axpy(float* y, float alpha, const float* x, int64_t n);

// Scale: x[i] *= alpha.
void Scale(float* x, float alpha, int64_t n);

// CopyColumns: dst[r, 0:cols] = src[r, 0:cols] for r < rows, with row
// strides (in elements). Used to split/concat column ranges, e.g. MLA's
// kv_a output [N, kv_lora + rope] into its two parts.
void CopyColumns(float* dst, int64_t dst_stride, const float* src,
                 int64_t src_stride, int64_t rows, int64_t cols);

// AddColumns: dst[r, 0:cols] += src[r, 0:cols] (strided as CopyColumns).
void AddColumns(float* dst, int64_t dst_stride, const float* src,
                int64_t src_stride, int64_t rows, int64_t cols);

// BroadcastColumns: dst[r, g * dst_group + c] = src[r, c] for every group
// g < groups (MLA's shared k_pe into each head's key), one pass over rows.
void BroadcastColumns(float* dst, int64_t dst_stride, int64_t dst_group, int64_t groups,
                      const float* src, int64_t src_stride, int64_t rows, int64_t cols);

// SumColumnGroups: dst[r, c] = sum over g < groups of src[r, g * src_group
// + c], added in group order from group 0 (the gradient of a broadcast:
// the same sums as CopyColumns of group 0 then AddColumns of the others).
void SumColumnGroups(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                     int64_t src_group, int64_t groups, int64_t rows, int64_t cols);

// SumSquares: sum of x[i]^2 in double (gradient-norm clipping).
double SumSquares(const float* x, int64_t n);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_ELEMENTWISE_H_
