// File: haiscale/cuda/cuda_allocator.h
//
// The CUDA side of the caching allocator: a RawBackend over cudaMalloc /
// cudaFree and CUDA events, one CachingAllocator per device (created on
// first use, never destroyed, so no CUDA call runs during static
// destruction), and the hooks that make
//   Tensor::TryEmpty(shape, dtype, Device::Cuda(i))
// allocate from it. Tensor allocations are ordered on the calling thread's
// current stream for that device (SetCurrentStream; default: the legacy
// default stream).
//
// Usage:
//   HS_ASSIGN_OR_RETURN(DeviceInfo d, SelectDevice(local_rank));  // installs hooks
//   SetCurrentStream(d.index, compute.get());
//   HS_ASSIGN_OR_RETURN(Tensor x, Tensor::TryEmpty({B, T, C}, DType::kBF16,
//                                                  Device::Cuda(d.index)));
//   HS_ASSIGN_OR_RETURN(CachingAllocator* a, DeviceAllocator(d.index));
//   LOG(INFO) << a->Stats().ToString();
#ifndef HAISCALE_CUDA_CUDA_ALLOCATOR_H_
#define HAISCALE_CUDA_CUDA_ALLOCATOR_H_

#include <cuda_runtime_api.h>

#include <memory>

#include "absl/status/statusor.h"
#include "haiscale/cuda/caching_allocator.h"

namespace hs::cuda {

// kMaxDevices: device ordinals the allocator table covers.
inline constexpr int kMaxDevices = 64;

// MakeCudaBackend(device): the RawBackend for `device` (cudaMalloc, events).
std::unique_ptr<RawBackend> MakeCudaBackend(int device);

// DeviceAllocator(device): the process-wide allocator of `device`.
absl::StatusOr<CachingAllocator*> DeviceAllocator(int device);

// SetCurrentStream(device, stream) / CurrentStream(device): the stream the
// calling thread's Tensor allocations on `device` are ordered on.
void SetCurrentStream(int device, cudaStream_t stream);
cudaStream_t CurrentStream(int device);

// InstallCudaAllocatorHooks(): routes Tensor's CUDA allocations through
// DeviceAllocator (idempotent; SelectDevice calls it).
void InstallCudaAllocatorHooks();

}  // namespace hs::cuda

#endif  // HAISCALE_CUDA_CUDA_ALLOCATOR_H_
