// File: haiscale/dtype.cc — see dtype.h.
#include "haiscale/dtype.h"

#include "absl/strings/str_cat.h"

namespace hs {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kBF16:
      return "bf16";
    case DType::kI32:
      return "i32";
    case DType::kI64:
      return "i64";
    case DType::kU8:
      return "u8";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  if (name == "f32" || name == "float32" || name == "F32") return DType::kF32;
  if (name == "bf16" || name == "bfloat16" || name == "BF16") return DType::kBF16;
  if (name == "i32" || name == "int32" || name == "I32") return DType::kI32;
  if (name == "i64" || name == "int64" || name == "I64") return DType::kI64;
  if (name == "u8" || name == "uint8" || name == "U8") return DType::kU8;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", name, "' (expected f32|bf16|i32|i64|u8)"));
}

}  // namespace hs
