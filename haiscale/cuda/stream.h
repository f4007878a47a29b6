// File: haiscale/cuda/stream.h
//
// RAII owners of cudaStream_t and cudaEvent_t. Both are move-only; the
// destructor releases the handle (errors there are ignored: the context
// may already be gone at exit). Creation and every operation return
// absl::Status.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(Stream comm, Stream::Create(dev, /*priority=*/-1));
//   HS_ASSIGN_OR_RETURN(Event ready, Event::Create());
//   HS_RETURN_IF_ERROR(ready.Record(compute.get()));
//   HS_RETURN_IF_ERROR(comm.WaitEvent(ready));   // comm waits for compute
#ifndef HAISCALE_CUDA_STREAM_H_
#define HAISCALE_CUDA_STREAM_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hs::cuda {

class Event;

class Stream {
 public:
  // Stream::Create(device, priority): a non-blocking stream on `device`
  // (lower priority values run first; clamped to the device's range).
  static absl::StatusOr<Stream> Create(int device, int priority = 0);

  Stream() = default;
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  // Stream::get(): the handle (nullptr for a default-constructed Stream,
  // which CUDA reads as the legacy default stream).
  cudaStream_t get() const { return stream_; }
  int device() const { return device_; }

  // Stream::Synchronize(): waits for all queued work.
  absl::Status Synchronize() const;
  // Stream::Query(): true when all queued work has finished.
  absl::StatusOr<bool> Query() const;
  // Stream::WaitEvent(e): later work on this stream waits for `e`.
  absl::Status WaitEvent(const Event& e) const;

 private:
  void Reset();
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
};

class Event {
 public:
  // Event::Create(timing): timing events can be used with ElapsedMs; the
  // default (no timing) is cheaper for pure synchronisation.
  static absl::StatusOr<Event> Create(bool timing = false);

  Event() = default;
  Event(Event&& o) noexcept;
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  cudaEvent_t get() const { return event_; }

  // Event::Record(stream): marks the current end of `stream`'s queue.
  absl::Status Record(cudaStream_t stream);
  // Event::Query(): true once the recorded work has finished.
  absl::StatusOr<bool> Query() const;
  // Event::Synchronize(): blocks until then.
  absl::Status Synchronize() const;
  // Event::ElapsedMs(start, end): milliseconds between two timing events.
  static absl::StatusOr<float> ElapsedMs(const Event& start, const Event& end);

 private:
  void Reset();
  cudaEvent_t event_ = nullptr;
};

}  // namespace hs::cuda

#endif  // HAISCALE_CUDA_STREAM_H_
