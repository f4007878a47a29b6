// File: haiscale/cuda/stream.cc
//
// Stream / Event RAII. Streams are created on their device with the
// current device restored afterwards, so creating a communication stream
// for another GPU never changes the caller's device.
#include "haiscale/cuda/stream.h"

#include <algorithm>
#include <utility>

#include "haiscale/cuda/error.h"

namespace hs::cuda {
namespace {

// Runs `f` with `device` current, restoring the previous device.
template <typename F>
absl::Status OnDevice(int device, F f) {
  int prev = 0;
  HS_CUDA_RETURN_IF_ERROR(cudaGetDevice(&prev));
  if (prev != device) HS_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  absl::Status s = f();
  if (prev != device) {
    absl::Status r = HS_CUDA_STATUS(cudaSetDevice(prev));
    if (s.ok()) s = r;
  }
  return s;
}

// Query results: cudaSuccess = done, cudaErrorNotReady = pending.
absl::StatusOr<bool> QueryResult(cudaError_t err, const char* call,
                                 const char* file, int line) {
  if (err == cudaSuccess) return true;
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  return CudaErrorToStatus(err, call, file, line);
}

}  // namespace

absl::StatusOr<Stream> Stream::Create(int device, int priority) {
  Stream s;
  s.device_ = device;
  absl::Status st = OnDevice(device, [&]() -> absl::Status {
    int least = 0, greatest = 0;
    HS_CUDA_RETURN_IF_ERROR(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    // Numerically, greatest <= least (e.g. -5 .. 0).
    int p = std::clamp(priority, greatest, least);
    HS_CUDA_RETURN_IF_ERROR(
        cudaStreamCreateWithPriority(&s.stream_, cudaStreamNonBlocking, p));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return s;
}

Stream::Stream(Stream&& o) noexcept
    : stream_(std::exchange(o.stream_, nullptr)), device_(o.device_) {}

Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    Reset();
    stream_ = std::exchange(o.stream_, nullptr);
    device_ = o.device_;
  }
  return *this;
}

Stream::~Stream() { Reset(); }

void Stream::Reset() {
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

absl::Status Stream::Synchronize() const {
  return HS_CUDA_STATUS(cudaStreamSynchronize(stream_));
}

absl::StatusOr<bool> Stream::Query() const {
  return QueryResult(cudaStreamQuery(stream_), "cudaStreamQuery(stream_)",
                     __FILE__, __LINE__);
}

absl::Status Stream::WaitEvent(const Event& e) const {
  return HS_CUDA_STATUS(cudaStreamWaitEvent(stream_, e.get(), 0));
}

absl::StatusOr<Event> Event::Create(bool timing) {
  Event e;
  HS_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(
      &e.event_, timing ? cudaEventDefault : cudaEventDisableTiming));
  return e;
}

Event::Event(Event&& o) noexcept : event_(std::exchange(o.event_, nullptr)) {}

Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    Reset();
    event_ = std::exchange(o.event_, nullptr);
  }
  return *this;
}

Event::~Event() { Reset(); }

void Event::Reset() {
  if (event_ != nullptr) (void)cudaEventDestroy(event_);
  event_ = nullptr;
}

absl::Status Event::Record(cudaStream_t stream) {
  return HS_CUDA_STATUS(cudaEventRecord(event_, stream));
}

absl::StatusOr<bool> Event::Query() const {
  return QueryResult(cudaEventQuery(event_), "cudaEventQuery(event_)",
                     __FILE__, __LINE__);
}

absl::Status Event::Synchronize() const {
  return HS_CUDA_STATUS(cudaEventSynchronize(event_));
}

absl::StatusOr<float> Event::ElapsedMs(const Event& start, const Event& end) {
  float ms = 0;
  HS_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start.event_, end.event_));
  return ms;
}

}  // namespace hs::cuda
