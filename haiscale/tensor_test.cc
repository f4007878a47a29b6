#include "haiscale/tensor.h"

#include <cstdint>
#include <cmath>

#include "gtest/gtest.h"

namespace hs {
namespace {

TEST(TensorTest, EmptyIsAlignedAndZeroed) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kI32, DType::kI64, DType::kU8}) {
    Tensor t = Tensor::Empty({3, 5, 7}, dt);
    EXPECT_EQ(t.numel(), 105);
    EXPECT_EQ(t.nbytes(), 105 * DTypeSize(dt));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
    const uint8_t* bytes = t.data<uint8_t>();
    for (int64_t i = 0; i < t.nbytes(); ++i) ASSERT_EQ(bytes[i], 0);
    EXPECT_TRUE(t.owns_storage());
  }
}

TEST(TensorTest, SliceAndReshapeAreViews) {
  Tensor t = Tensor::Empty({4, 3});
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = float(i);
  Tensor rows = t.Slice0(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 3}));
  EXPECT_EQ(rows.data<float>()[0], 3.0f);
  rows.data<float>()[0] = 42.0f;
  EXPECT_EQ(t.data<float>()[3], 42.0f);
  Tensor flat = t.Reshape({12});
  EXPECT_EQ(flat.data<float>(), t.data<float>());
  Tensor copy = t.Clone();
  copy.data<float>()[0] = -1.0f;
  EXPECT_EQ(t.data<float>()[0], 0.0f);
}

TEST(TensorTest, BorrowDoesNotOwn) {
  float buffer[6] = {1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::Borrow(buffer, {2, 3});
  EXPECT_FALSE(t.owns_storage());
  EXPECT_EQ(t.data<float>()[5], 6.0f);
}

TEST(TensorTest, NegativeShapeIsAnError) {
  auto t = Tensor::TryEmpty({2, -1}, DType::kF32);
  EXPECT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("[2, -1]"), std::string::npos);
}

TEST(TensorTest, CudaWithoutBackendIsAnError) {
  auto t = Tensor::TryEmpty({2}, DType::kF32, Device::Cuda(0));
  EXPECT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("CUDA"), std::string::npos);
}

TEST(DTypeTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f)), 1.0f);
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(-2.5f)), -2.5f);
  // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even (1.0).
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + 1.0f / 256)), 1.0f);
  // 1 + 3*2^-8 ties up to 1 + 2^-6 (even mantissa).
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::nanf("")))));
  EXPECT_TRUE(std::isinf(Bf16ToFloat(FloatToBf16(INFINITY))));
  float x = 3.14159f;
  EXPECT_NEAR(Bf16ToFloat(FloatToBf16(x)), x, x / 128);
}

TEST(DTypeTest, ParseNames) {
  EXPECT_EQ(*ParseDType("bf16"), DType::kBF16);
  EXPECT_EQ(*ParseDType("float32"), DType::kF32);
  EXPECT_FALSE(ParseDType("f16x").ok());
}

}  // namespace
}  // namespace hs
