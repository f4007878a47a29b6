// File: haiscale/cuda/cuda_allocator.cc
//
// cudaMalloc/cudaFree/cudaEvent backend for CachingAllocator, the
// per-device allocator table and the Tensor hooks.
#include "haiscale/cuda/cuda_allocator.h"

#include <array>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "haiscale/cuda/error.h"
#include "haiscale/tensor.h"

namespace hs::cuda {
namespace {

// DeviceGuard: makes `device` current for its scope.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&prev_) == cudaSuccess && prev_ != device) {
      ok_ = cudaSetDevice(device) == cudaSuccess;
      switched_ = true;
    }
  }
  ~DeviceGuard() {
    if (switched_) (void)cudaSetDevice(prev_);
  }
  bool ok() const { return ok_; }

 private:
  int prev_ = 0;
  bool switched_ = false;
  bool ok_ = true;
};

class CudaBackend final : public RawBackend {
 public:
  explicit CudaBackend(int device) : device_(device) {}

  absl::StatusOr<void*> Allocate(size_t bytes) override {
    DeviceGuard g(device_);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // OOM is not sticky; clear it
      return Annotate(err, "cudaMalloc(&p, bytes)", __LINE__);
    }
    return p;
  }
  absl::Status Free(void* ptr) override {
    DeviceGuard g(device_);
    return HS_CUDA_STATUS(cudaFree(ptr));
  }
  absl::StatusOr<EventId> RecordEvent(StreamId stream) override {
    DeviceGuard g(device_);
    cudaEvent_t e = nullptr;
    HS_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    cudaError_t err = cudaEventRecord(e, reinterpret_cast<cudaStream_t>(stream));
    if (err != cudaSuccess) {
      (void)cudaEventDestroy(e);
      return CudaErrorToStatus(err, "cudaEventRecord(e, stream)", __FILE__,
                               __LINE__);
    }
    return reinterpret_cast<EventId>(e);
  }
  absl::StatusOr<bool> EventDone(EventId event) override {
    cudaError_t err = cudaEventQuery(reinterpret_cast<cudaEvent_t>(event));
    if (err == cudaSuccess) return true;
    if (err == cudaErrorNotReady) {
      (void)cudaGetLastError();
      return false;
    }
    return CudaErrorToStatus(err, "cudaEventQuery(event)", __FILE__, __LINE__);
  }
  absl::Status SynchronizeEvent(EventId event) override {
    return HS_CUDA_STATUS(
        cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(event)));
  }
  void DestroyEvent(EventId event) override {
    (void)cudaEventDestroy(reinterpret_cast<cudaEvent_t>(event));
  }

 private:
  absl::Status Annotate(cudaError_t err, const char* call, int line) {
    absl::Status s = CudaErrorToStatus(err, call, __FILE__, line);
    return absl::Status(s.code(), absl::StrCat("cuda:", device_, ": ", s.message()));
  }
  int device_;
};

std::mutex g_table_mu;
std::array<CachingAllocator*, kMaxDevices> g_table{};  // leaked on purpose
thread_local std::array<cudaStream_t, kMaxDevices> t_current_stream{};

void* HookAlloc(int64_t bytes, int device) {
  absl::StatusOr<CachingAllocator*> a = DeviceAllocator(device);
  if (!a.ok()) {
    std::fprintf(stderr, "CUDA tensor allocation: %s\n",
                 a.status().ToString().c_str());
    return nullptr;
  }
  absl::StatusOr<void*> p = (*a)->Allocate(
      size_t(bytes), reinterpret_cast<StreamId>(CurrentStream(device)));
  if (!p.ok()) {
    std::fprintf(stderr, "CUDA tensor allocation: %s\n",
                 p.status().ToString().c_str());
    return nullptr;
  }
  return *p;
}

void HookFree(void* ptr, int device) {
  absl::StatusOr<CachingAllocator*> a = DeviceAllocator(device);
  absl::Status s = a.ok() ? (*a)->Free(ptr) : a.status();
  if (!s.ok()) {
    std::fprintf(stderr, "CUDA tensor free: %s\n", s.ToString().c_str());
  }
}

}  // namespace

std::unique_ptr<RawBackend> MakeCudaBackend(int device) {
  return std::make_unique<CudaBackend>(device);
}

absl::StatusOr<CachingAllocator*> DeviceAllocator(int device) {
  if (device < 0 || device >= kMaxDevices) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA device ordinal ", device, " out of range [0, ",
                     kMaxDevices, ")"));
  }
  std::lock_guard<std::mutex> lock(g_table_mu);
  if (g_table[device] == nullptr) {
    g_table[device] = new CachingAllocator(MakeCudaBackend(device));
  }
  return g_table[device];
}

void SetCurrentStream(int device, cudaStream_t stream) {
  if (device >= 0 && device < kMaxDevices) t_current_stream[device] = stream;
}

cudaStream_t CurrentStream(int device) {
  return (device >= 0 && device < kMaxDevices) ? t_current_stream[device]
                                               : nullptr;
}

void InstallCudaAllocatorHooks() {
  DeviceAllocatorHooks hooks;
  hooks.alloc = &HookAlloc;
  hooks.free = &HookFree;
  SetCudaAllocatorHooks(hooks);
}

}  // namespace hs::cuda
