// File: haiscale/tensor.cc — see tensor.h.
#include "haiscale/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hs {
namespace {

constexpr int64_t kCpuAlignment = 64;
DeviceAllocatorHooks g_cuda_hooks;

// SizeClass(bytes): the block size a request is served with.
int64_t SizeClass(int64_t bytes) {
  if (bytes <= 1024) {
    return std::max<int64_t>(kCpuAlignment,
                             (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment);
  }
  int64_t p = 1;
  while (p * 2 <= bytes) p *= 2;  // largest power of two <= bytes
  const int64_t step = p / 8;     // 8 classes per power of two
  return (bytes + step - 1) / step * step;
}

// CpuBlockCache: size-class free lists for CPU blocks. Training allocates
// the same shapes every step, so after the first step almost every request
// is a hit: no malloc/mmap, no page faults on first touch.
class CpuBlockCache {
 public:
  CpuBlockCache() {
    const char* env = std::getenv("HS_CPU_CACHE_MB");
    if (env != nullptr && *env != '\0') {
      limit_ = std::max<int64_t>(0, std::atoll(env)) << 20;
    }
  }
  ~CpuBlockCache() { Release(); }

  // Get(size_class): a block of exactly size_class bytes, or nullptr.
  void* Get(int64_t size_class) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size_class);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size_class;
        ++hits_;
        AddLive(size_class);
        return p;
      }
      ++misses_;
    }
    void* p = std::aligned_alloc(kCpuAlignment, size_class);
    if (p != nullptr) {
      std::lock_guard<std::mutex> lock(mu_);
      AddLive(size_class);
    }
    return p;
  }

  void Put(void* p, int64_t size_class) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_ -= size_class;
      if (cached_ + size_class <= limit_) {
        free_[size_class].push_back(p);
        cached_ += size_class;
        return;
      }
    }
    std::free(p);
  }

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) std::free(p);
    }
    free_.clear();
    cached_ = 0;
  }

  CpuCacheStats Stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return CpuCacheStats{cached_, hits_, misses_, live_, peak_};
  }

  void ResetPeak() {
    std::lock_guard<std::mutex> lock(mu_);
    peak_ = live_;
  }

 private:
  std::mutex mu_;
  std::unordered_map<int64_t, std::vector<void*>> free_;
  int64_t cached_ = 0;
  int64_t limit_ = int64_t(4096) << 20;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
  int64_t live_ = 0;  // bytes handed out and not yet returned
  int64_t peak_ = 0;  // highest live_ since the last ResetPeak

  void AddLive(int64_t bytes) {  // mu_ held
    live_ += bytes;
    peak_ = std::max(peak_, live_);
  }
};

// Never destroyed: Storage destructors of static tensors may run after any
// other static's destructor.
CpuBlockCache& BlockCache() {
  static CpuBlockCache* cache = new CpuBlockCache();
  return *cache;
}

}  // namespace

CpuCacheStats GetCpuCacheStats() { return BlockCache().Stats(); }

void ReleaseCpuCache() { BlockCache().Release(); }

void ResetCpuPeakBytes() { BlockCache().ResetPeak(); }

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
                                                           Device device,
                                                           bool zero_fill) {
  if (bytes < 0) return absl::InvalidArgumentError("negative allocation size");
  void* ptr = nullptr;
  if (device.is_cpu()) {
    ptr = BlockCache().Get(SizeClass(bytes));
    if (ptr == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("host allocation of ", bytes, " bytes failed"));
    }
    if (zero_fill && bytes > 0) std::memset(ptr, 0, bytes);
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
    BlockCache().Put(data_, SizeClass(bytes_));
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

Tensor Tensor::Uninitialized(const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = Device::Cpu();
  for (int64_t d : shape) HS_CHECK(d >= 0) << "negative dimension in " << ShapeToString(shape);
  auto storage = Storage::Allocate(t.nbytes(), t.device_, /*zero_fill=*/false);
  HS_CHECK(storage.ok()) << storage.status();
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
  Tensor t = Uninitialized(shape_, dtype_);
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
