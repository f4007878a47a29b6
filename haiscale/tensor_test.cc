#include "haiscale/tensor.h"

#include <cstdint>
#include <algorithm>
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

TEST(TensorTest, RecycledBlocksAreZeroedByEmpty) {
  // A freed block goes to the caching allocator's free list; Empty must
  // still hand it out zero-filled, Uninitialized may not.
  const CpuCacheStats before = GetCpuCacheStats();
  void* first = nullptr;
  {
    Tensor t = Tensor::Uninitialized({1000, 3});
    first = t.raw_data();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 7.0f;
  }
  Tensor again = Tensor::Empty({3, 1000});
  EXPECT_EQ(again.raw_data(), first);  // same size class: reused
  for (int64_t i = 0; i < again.numel(); ++i) ASSERT_EQ(again.data<float>()[i], 0.0f);
  const CpuCacheStats after = GetCpuCacheStats();
  EXPECT_GE(after.hits, before.hits + 1);
  // A slightly smaller request shares the size class.
  Tensor again2 = Tensor::Uninitialized({2990});
  EXPECT_EQ(again2.nbytes(), 2990 * 4);
  ReleaseCpuCache();
  EXPECT_EQ(GetCpuCacheStats().cached_bytes, 0);
}

TEST(TensorTest, ManySizesRoundTrip) {
  for (int64_t n : {0, 1, 15, 16, 17, 255, 256, 257, 1023, 4097, 100000, 1 << 20}) {
    Tensor a = Tensor::Uninitialized({n}, DType::kU8);
    std::fill(a.data<uint8_t>(), a.data<uint8_t>() + n, uint8_t(0xAB));
    a = Tensor();
    Tensor b = Tensor::Empty({n}, DType::kU8);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.raw_data()) % 64, 0u);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(b.data<uint8_t>()[i], 0) << n;
  }
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
