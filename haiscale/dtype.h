// File: haiscale/dtype.h
//
// Element types of HaiScale tensors, and bf16 <-> f32 conversion.
// bf16 is stored as the upper 16 bits of an IEEE f32; conversion rounds to
// nearest even (NaN stays NaN), as PyTorch and CUDA's __float2bfloat16 do.
#ifndef HAISCALE_DTYPE_H_
#define HAISCALE_DTYPE_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hs {

enum class DType : uint8_t { kF32 = 0, kBF16 = 1, kI32 = 2, kI64 = 3, kU8 = 4 };

// DTypeSize(dtype): bytes per element.
inline int64_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kBF16:
      return 2;
    case DType::kI64:
      return 8;
    case DType::kU8:
      return 1;
  }
  return 0;
}

// DTypeName(dtype): "f32", "bf16", "i32", "i64", "u8".
const char* DTypeName(DType dtype);

// ParseDType(name): inverse of DTypeName (also accepts "float32", "bfloat16").
absl::StatusOr<DType> ParseDType(absl::string_view name);

// bf16 stored as raw bits.
struct bf16 {
  uint16_t bits;
};

// FloatToBf16(x): round-to-nearest-even conversion.
inline bf16 FloatToBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};
  uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t((u + rounding) >> 16)};
}

// Bf16ToFloat(x): exact widening.
inline float Bf16ToFloat(bf16 x) {
  uint32_t u = uint32_t(x.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace hs

#endif  // HAISCALE_DTYPE_H_
