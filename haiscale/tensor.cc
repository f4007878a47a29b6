// File: haiscale/tensor.cc — see tensor.h.
#include "haiscale/tensor.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hs {
namespace {

constexpr int64_t kCpuAlignment = 64;
DeviceAllocatorHooks g_cuda_hooks;

}  // namespace

std::string Device::ToString() const {
  return is_cpu() ? "cpu" : absl::StrCat("cuda:", index);
}

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void SetCudaAllocatorHooks(DeviceAllocatorHooks hooks) { g_cuda_hooks = hooks; }

absl::StatusOr<std::shared_ptr<Storage>> Storage::Allocate(int64_t bytes,
                                                           Device device) {
  if (bytes < 0) return absl::InvalidArgumentError("negative allocation size");
  void* ptr = nullptr;
  if (device.is_cpu()) {
    int64_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    if (rounded == 0) rounded = kCpuAlignment;
    ptr = std::aligned_alloc(kCpuAlignment, rounded);
    if (ptr == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("host allocation of ", bytes, " bytes failed"));
    }
    std::memset(ptr, 0, rounded);
  } else {
    if (g_cuda_hooks.alloc == nullptr) {
      return absl::FailedPreconditionError(
          "CUDA tensor requested but this binary has no CUDA backend "
          "(build with --config=cuda)");
    }
    ptr = g_cuda_hooks.alloc(bytes, device.index);
    if (ptr == nullptr && bytes > 0) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "CUDA allocation of ", bytes, " bytes failed on ", device.ToString()));
    }
  }
  return std::shared_ptr<Storage>(new Storage(ptr, bytes, device, true));
}

std::shared_ptr<Storage> Storage::Borrow(void* ptr, int64_t bytes,
                                         Device device) {
  return std::shared_ptr<Storage>(new Storage(ptr, bytes, device, false));
}

Storage::~Storage() {
  if (!owned_ || data_ == nullptr) return;
  if (device_.is_cpu()) {
    std::free(data_);
  } else if (g_cuda_hooks.free != nullptr) {
    g_cuda_hooks.free(data_, device_.index);
  }
}

absl::StatusOr<Tensor> Tensor::TryEmpty(const Shape& shape, DType dtype,
                                        Device device) {
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension in shape ", ShapeToString(shape)));
    }
  }
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  auto storage = Storage::Allocate(t.nbytes(), device);
  if (!storage.ok()) return storage.status();
  t.storage_ = *std::move(storage);
  return t;
}

Tensor Tensor::Empty(const Shape& shape, DType dtype, Device device) {
  auto t = TryEmpty(shape, dtype, device);
  HS_CHECK(t.ok()) << t.status();
  return *std::move(t);
}

Tensor Tensor::Borrow(void* ptr, const Shape& shape, DType dtype,
                      Device device) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = Storage::Borrow(ptr, t.nbytes(), device);
  return t;
}

Tensor Tensor::Reshape(const Shape& shape) const {
  HS_CHECK(NumElements(shape) == numel())
      << "reshape " << ShapeToString(shape_) << " -> " << ShapeToString(shape);
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::Slice0(int64_t begin, int64_t end) const {
  HS_CHECK(rank() >= 1 && begin >= 0 && begin <= end && end <= shape_[0])
      << "slice [" << begin << ", " << end << ") of " << ShapeToString(shape_);
  int64_t row_bytes = (shape_[0] == 0 ? 0 : nbytes() / shape_[0]);
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.offset_bytes_ += begin * row_bytes;
  return t;
}

Tensor Tensor::Clone() const {
  HS_CHECK(device_.is_cpu()) << "Clone is CPU-only";
  Tensor t = Empty(shape_, dtype_);
  if (nbytes() > 0) std::memcpy(t.raw_data(), raw_data(), nbytes());
  return t;
}

void Tensor::Zero() {
  HS_CHECK(device_.is_cpu()) << "Zero is CPU-only";
  if (nbytes() > 0) std::memset(raw_data(), 0, nbytes());
}

void Tensor::CopyFrom(const Tensor& src) {
  HS_CHECK(device_.is_cpu() && src.device_.is_cpu()) << "CopyFrom is CPU-only";
  HS_CHECK(src.numel() == numel() && src.dtype() == dtype())
      << "CopyFrom " << src.DebugString() << " -> " << DebugString();
  if (nbytes() > 0) std::memcpy(raw_data(), src.raw_data(), nbytes());
}

std::string Tensor::DebugString() const {
  return absl::StrCat("Tensor(", DTypeName(dtype_), ShapeToString(shape_), ", ",
                      device_.ToString(), ")");
}

void ConvertF32ToBf16(const float* src, bf16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = FloatToBf16(src[i]);
}

void ConvertBf16ToF32(const bf16* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(src[i]);
}

}  // namespace hs
