// File: hfreduce/gpu/device_copier.h
//
// DeviceCopier: the copies between a device buffer and host staging memory
// that the GPU path of HFReduce (staged_allreduce.h) overlaps with the CPU
// reduction. It is an interface so the pipeline is plain C++ and is tested
// in the default CPU build (HostCopier: memcpy on worker threads); the CUDA
// build supplies CudaCopier (cudaMemcpyAsync on two streams).
//
// The model is that of two CUDA streams, one per direction, plus one event
// per (direction, tag): a copy is queued behind earlier copies of the same
// direction, and WaitToHost(tag) / WaitToDevice(tag) block until the most
// recent copy issued with that tag (and so every earlier copy of that
// direction) has finished. Tags are small integers (the staging slot), so
// a copier keeps a fixed number of events however long the buffer is.
//
// Usage (one piece, what StagedAllReducer does per slot):
//   copier->CopyToHostAsync(slot, dev + off, bytes, /*tag=*/k);
//   HS_RETURN_IF_ERROR(copier->WaitToHost(k));
//   ... reduce slot on the CPU ...
//   copier->CopyToDeviceAsync(dev + off, slot, bytes, k);
//   HS_RETURN_IF_ERROR(copier->Synchronize());   // before dev is read
//
// Errors of an asynchronous copy are reported by the next Wait* or
// Synchronize covering it (as CUDA reports them), naming the call.
#ifndef HFREDUCE_GPU_DEVICE_COPIER_H_
#define HFREDUCE_GPU_DEVICE_COPIER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace hs::hfreduce::gpu {

class DeviceCopier {
 public:
  virtual ~DeviceCopier() = default;

  // DeviceCopier::Register(host, bytes): makes [host, host+bytes) fast and
  // truly asynchronous for copies (CUDA: pins it with cudaHostRegister).
  // Called once per staging area; a no-op on the host.
  virtual absl::Status Register(void* host, int64_t bytes) = 0;

  // DeviceCopier::BeginCall(): orders the copies issued after it behind the
  // work that produces the device buffer (CUDA: the D2H stream waits for an
  // event recorded on the producer stream). Called on the caller's thread
  // when a call is made, so work queued later does not count.
  virtual absl::Status BeginCall() = 0;

  // DeviceCopier::CopyToHostAsync(host, device, bytes, tag): queues a
  // device-to-host copy on the D2H queue.
  virtual void CopyToHostAsync(void* host, const void* device, int64_t bytes, int tag) = 0;

  // DeviceCopier::CopyToDeviceAsync(device, host, bytes, tag): queues a
  // host-to-device copy on the H2D queue (independent of the D2H queue).
  virtual void CopyToDeviceAsync(void* device, const void* host, int64_t bytes, int tag) = 0;

  // DeviceCopier::WaitToHost(tag): blocks until the last D2H copy issued
  // with `tag` finished; its error (or an earlier unreported one) if any.
  virtual absl::Status WaitToHost(int tag) = 0;

  // DeviceCopier::WaitToDevice(tag): the same for the H2D queue.
  virtual absl::Status WaitToDevice(int tag) = 0;

  // DeviceCopier::Synchronize(): blocks until both queues are empty.
  virtual absl::Status Synchronize() = 0;

  // DeviceCopier::Describe(): e.g. "host (threaded)" or
  // "cuda device 0 (H100), D2H prio -1, H2D prio -1".
  virtual std::string Describe() const = 0;
};

}  // namespace hs::hfreduce::gpu

#endif  // HFREDUCE_GPU_DEVICE_COPIER_H_
