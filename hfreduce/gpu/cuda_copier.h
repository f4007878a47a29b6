// File: hfreduce/gpu/cuda_copier.h
//
// CudaCopier: the DeviceCopier of the GPU build. Two non-blocking streams
// on one device, one per direction (D2H feeds the CPU reduction, H2D
// returns its results; GPUs have a copy engine per direction, so the two
// run at the same time), each with an event per tag; copies are
// cudaMemcpyAsync and waits cudaEventSynchronize. Register() pins the
// staging ring (cudaHostRegister, portable) once: it lies in the mmapped
// POSIX shm segment of the node, so the DMA lands straight in memory the
// node's ranks reduce in place, and the copies are truly asynchronous
// (pageable memory would make them staged through a driver buffer and
// synchronous). Every CUDA error becomes an absl::Status naming the call
// (haiscale/cuda/error.h).
//
// The D2H stream must not read a gradient before the kernel that writes it
// finished: BeginCall() records an event on the producer stream (the
// legacy default stream unless set) and makes the D2H stream wait for it.
//
// Usage (one per rank and device; destroy it, and the StagedAllReducer
// using it, before the Communicator whose segment it pinned):
//   HS_ASSIGN_OR_RETURN(auto copier, CudaCopier::Create({.device = 0}));
//   copier->set_producer(compute_stream);
//   HS_ASSIGN_OR_RETURN(auto staged,
//                       StagedAllReducer::Create(comm.get(), copier.get()));
#ifndef HFREDUCE_GPU_CUDA_COPIER_H_
#define HFREDUCE_GPU_CUDA_COPIER_H_

#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/cuda/stream.h"
#include "hfreduce/gpu/device_copier.h"

namespace hs::hfreduce::gpu {

class CudaCopier final : public DeviceCopier {
 public:
  struct Options {
    int device = 0;
    // Stream priorities (lower runs first; clamped to the device's range):
    // by default both copy streams get the highest, so gradient copies are
    // not starved by the backward kernels still running.
    int d2h_priority = -1000;
    int h2d_priority = -1000;
    // The stream whose work produces the device buffers (nullptr: the
    // legacy default stream).
    cudaStream_t producer = nullptr;
  };

  // CudaCopier::Create(options): the streams and events on options.device;
  // FailedPrecondition "no CUDA device ..." without one.
  static absl::StatusOr<std::unique_ptr<CudaCopier>> Create(const Options& options);

  // ~CudaCopier(): waits for queued copies, unregisters what it pinned.
  ~CudaCopier() override;

  void set_producer(cudaStream_t s) { producer_ = s; }
  cudaStream_t d2h_stream() const { return d2h_.stream.get(); }
  cudaStream_t h2d_stream() const { return h2d_.stream.get(); }

  // Pins [host, host+bytes) (cudaHostRegisterPortable). Memory already
  // pinned by someone else is accepted as is (and left to them).
  absl::Status Register(void* host, int64_t bytes) override;
  absl::Status BeginCall() override;
  void CopyToHostAsync(void* host, const void* device, int64_t bytes, int tag) override;
  void CopyToDeviceAsync(void* device, const void* host, int64_t bytes, int tag) override;
  absl::Status WaitToHost(int tag) override;
  absl::Status WaitToDevice(int tag) override;
  absl::Status Synchronize() override;
  std::string Describe() const override;

 private:
  // One direction: its stream, an event per tag, and the first error of an
  // enqueue (reported by the next wait, as an asynchronous failure is).
  struct Lane {
    const char* name = "";
    hs::cuda::Stream stream;
    int priority = 0;
    std::vector<hs::cuda::Event> events;
    absl::Status pending;
  };

  explicit CudaCopier(const Options& options) : options_(options), producer_(options.producer) {}
  // Makes options_.device current on the calling thread (the pipeline may
  // run on the reducer's worker thread, which never chose a device).
  absl::Status Bind() const;
  void Copy(Lane& lane, void* dst, const void* src, int64_t bytes, int tag);
  absl::Status Wait(Lane& lane, int tag);

  Options options_;
  cudaStream_t producer_;
  std::mutex mu_;  // guards the lanes (the caller's BeginCall vs the worker)
  Lane d2h_, h2d_;
  hs::cuda::Event begin_;
  std::vector<std::pair<void*, int64_t>> registered_;
};

}  // namespace hs::hfreduce::gpu

#endif  // HFREDUCE_GPU_CUDA_COPIER_H_
