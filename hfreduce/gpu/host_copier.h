// File: hfreduce/gpu/host_copier.h
//
// HostCopier: the DeviceCopier of the CPU build and of the tests. "Device"
// memory is host memory; each direction has its own worker thread that
// runs the copies (memcpy) in issue order, so D2H and H2D are asynchronous
// and independent exactly as CUDA's two streams are, and a pipeline bug
// that waits on the wrong tag shows up as wrong data rather than passing
// by luck. Copies can be made to fail, for the error-path tests.
//
// Usage:
//   HostCopier copier;                       // or HostCopier({.threaded = false})
//   auto reducer = StagedAllReducer::Create(comm, &copier, {}).value();
#ifndef HFREDUCE_GPU_HOST_COPIER_H_
#define HFREDUCE_GPU_HOST_COPIER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hfreduce/gpu/device_copier.h"

namespace hs::hfreduce::gpu {

class HostCopier final : public DeviceCopier {
 public:
  struct Options {
    // Worker threads (true) or copies done synchronously at issue (false).
    bool threaded = true;
    // Fail the N-th (0-based) copy of that direction; -1: never. The copy
    // is skipped and its Wait reports Internal "injected failure ...".
    int64_t fail_to_host_copy = -1;
    int64_t fail_to_device_copy = -1;
  };

  HostCopier() : HostCopier(Options()) {}
  explicit HostCopier(const Options& options);
  ~HostCopier() override;  // finishes queued copies

  absl::Status Register(void* host, int64_t bytes) override;
  absl::Status BeginCall() override { return absl::OkStatus(); }
  void CopyToHostAsync(void* host, const void* device, int64_t bytes, int tag) override;
  void CopyToDeviceAsync(void* device, const void* host, int64_t bytes, int tag) override;
  absl::Status WaitToHost(int tag) override;
  absl::Status WaitToDevice(int tag) override;
  absl::Status Synchronize() override;
  std::string Describe() const override;

  // Statistics: copies and bytes issued per direction, bytes registered.
  int64_t copies_to_host() const;
  int64_t copies_to_device() const;
  int64_t bytes_to_host() const;
  int64_t bytes_to_device() const;
  int64_t registered_bytes() const;

 private:
  // One direction: a FIFO of copies and the worker that runs them.
  class Lane;
  Options options_;
  std::unique_ptr<Lane> to_host_, to_device_;
  mutable std::mutex mu_;
  int64_t registered_ = 0;
};

}  // namespace hs::hfreduce::gpu

#endif  // HFREDUCE_GPU_HOST_COPIER_H_
