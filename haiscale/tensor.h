// File: haiscale/tensor.h
//
// Tensor: a dense, row-major n-d array with a dtype, a shape and a device.
// Storage is either owned (reference-counted, 64-byte aligned on the CPU so
// SIMD loads never straddle cache lines) or borrowed (a view into memory
// someone else owns, e.g. a parameter arena or an mmap'ed file).
//
// Tensors are cheap to copy: copies share storage. Layers keep their
// parameters as views into one arena (see models/param_arena.h).
//
// Usage:
//   Tensor x = Tensor::Empty({B, T, C}, DType::kF32);     // owned, CPU
//   Tensor w = Tensor::Borrow(ptr, {C, C}, DType::kF32);   // view
//   float* p = x.data<float>();
//   Tensor row = x.Slice0(3, 4);                           // view of x[3]
#ifndef HAISCALE_TENSOR_H_
#define HAISCALE_TENSOR_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/dtype.h"
#include "haiscale/logging.h"

namespace hs {

enum class DeviceType : uint8_t { kCpu = 0, kCuda = 1 };

// Device: where a tensor's bytes live.
struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;  // CUDA ordinal; 0 for the CPU

  static Device Cpu() { return Device{}; }
  static Device Cuda(int index) { return Device{DeviceType::kCuda, index}; }
  bool is_cpu() const { return type == DeviceType::kCpu; }
  bool operator==(const Device& o) const {
    return type == o.type && index == o.index;
  }
  std::string ToString() const;
};

using Shape = std::vector<int64_t>;

// ShapeToString({2,3}) == "[2, 3]".
std::string ShapeToString(const Shape& shape);

// NumElements(shape): product of the dimensions (1 for a scalar).
int64_t NumElements(const Shape& shape);

// Storage: one allocation (or borrowed range). Allocation on CUDA goes
// through the device allocator registered by the CUDA backend.
class Storage {
 public:
  // Allocate(bytes, device): 64-byte aligned, zero-filled on the CPU unless
  // zero_fill is false (then the bytes are unspecified: a CPU block may be a
  // recycled one, see CpuCacheStats). CPU blocks come from a process-wide
  // caching allocator: freed blocks go to a size-class free list and are
  // handed out again, so a training step stops paying mmap + page faults.
  static absl::StatusOr<std::shared_ptr<Storage>> Allocate(
      int64_t bytes, Device device, bool zero_fill = true);
  // Borrow(ptr, bytes, device): a non-owning view.
  static std::shared_ptr<Storage> Borrow(void* ptr, int64_t bytes,
                                         Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool owned() const { return owned_; }

 private:
  Storage(void* data, int64_t bytes, Device device, bool owned)
      : data_(data), bytes_(bytes), device_(device), owned_(owned) {}
  void* data_;
  int64_t bytes_;
  Device device_;
  bool owned_;
};

// Hooks the CUDA backend installs so haiscale/ does not depend on CUDA.
struct DeviceAllocatorHooks {
  void* (*alloc)(int64_t bytes, int device_index) = nullptr;
  void (*free)(void* ptr, int device_index) = nullptr;
};
void SetCudaAllocatorHooks(DeviceAllocatorHooks hooks);

// The CPU caching allocator behind Storage::Allocate. Blocks are rounded up
// to a size class (64-byte multiples up to 1 KiB, then 8 classes per power of
// two, so at most 12.5% slack) and kept on per-class free lists when freed,
// up to a cap on cached bytes (default 4 GiB; HS_CPU_CACHE_MB overrides,
// 0 turns caching off). Thread-safe.
struct CpuCacheStats {
  int64_t cached_bytes = 0;  // bytes on the free lists now
  int64_t hits = 0;          // allocations served from a free list
  int64_t misses = 0;        // allocations that went to the system
  int64_t live_bytes = 0;    // bytes of CPU tensors alive now (size classes)
  int64_t peak_live_bytes = 0;  // most live_bytes since ResetCpuPeakBytes()
};
CpuCacheStats GetCpuCacheStats();
// ResetCpuPeakBytes(): peak_live_bytes = live_bytes (to measure a phase).
void ResetCpuPeakBytes();
// ReleaseCpuCache(): frees every cached block back to the system.
void ReleaseCpuCache();

class Tensor {
 public:
  Tensor() = default;

  // Empty(shape, dtype, device): owned, zero-filled on the CPU. Aborts only
  // when the host is out of memory; use TryEmpty to get a Status instead.
  static Tensor Empty(const Shape& shape, DType dtype = DType::kF32,
                      Device device = Device::Cpu());
  static absl::StatusOr<Tensor> TryEmpty(const Shape& shape, DType dtype,
                                         Device device = Device::Cpu());
  // Uninitialized(shape, dtype): owned CPU tensor whose contents are
  // unspecified (possibly a recycled block's old bytes). Use it only where
  // every element is written before any is read; everything that
  // accumulates (+=) into a fresh buffer must use Empty/Zeros.
  static Tensor Uninitialized(const Shape& shape, DType dtype = DType::kF32);
  // Zeros == Empty (CPU allocations are zero-filled).
  static Tensor Zeros(const Shape& shape, DType dtype = DType::kF32) {
    return Empty(shape, dtype);
  }
  // Borrow(ptr, shape, dtype, device): a view of memory owned elsewhere.
  static Tensor Borrow(void* ptr, const Shape& shape, DType dtype = DType::kF32,
                       Device device = Device::Cpu());

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const {
    return shape_[i < 0 ? int(shape_.size()) + i : i];
  }
  int rank() const { return int(shape_.size()); }
  int64_t numel() const { return NumElements(shape_); }
  int64_t nbytes() const { return numel() * DTypeSize(dtype_); }
  bool owns_storage() const { return storage_ && storage_->owned(); }

  void* raw_data() const {
    return storage_ ? static_cast<char*>(storage_->data()) + offset_bytes_
                    : nullptr;
  }
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }

  // Reshape(shape): a view with the same elements in a new shape.
  Tensor Reshape(const Shape& shape) const;
  // Slice0(begin, end): a view of rows [begin, end) of dimension 0.
  Tensor Slice0(int64_t begin, int64_t end) const;
  // Clone(): an owned deep copy (CPU).
  Tensor Clone() const;
  // Zero(): sets every byte to 0 (CPU).
  void Zero();
  // CopyFrom(src): element copy; shapes must have equal numel and dtypes
  // must match (CPU).
  void CopyFrom(const Tensor& src);

  std::string DebugString() const;

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_bytes_ = 0;
  Shape shape_;
  DType dtype_ = DType::kF32;
  Device device_;
};

// ConvertF32ToBf16 / ConvertBf16ToF32: bulk conversions (CPU).
void ConvertF32ToBf16(const float* src, bf16* dst, int64_t n);
void ConvertBf16ToF32(const bf16* src, float* dst, int64_t n);

}  // namespace hs

#endif  // HAISCALE_TENSOR_H_
