// File: hfreduce/gpu/cuda_copier.cc
//
// CudaCopier (see cuda_copier.h).
#include "hfreduce/gpu/cuda_copier.h"

#include "absl/strings/str_cat.h"
#include "haiscale/cuda/device.h"
#include "haiscale/cuda/error.h"
#include "haiscale/status.h"

namespace hs::hfreduce::gpu {

absl::StatusOr<std::unique_ptr<CudaCopier>> CudaCopier::Create(const Options& options) {
  HS_ASSIGN_OR_RETURN(int count, hs::cuda::DeviceCount());
  if (options.device < 0 || options.device >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("CudaCopier: device ", options.device, " of ", count, " visible devices"));
  }
  std::unique_ptr<CudaCopier> c(new CudaCopier(options));
  HS_RETURN_IF_ERROR(c->Bind());
  c->d2h_.name = "D2H";
  c->h2d_.name = "H2D";
  for (Lane* lane : {&c->d2h_, &c->h2d_}) {
    const int prio = lane == &c->d2h_ ? options.d2h_priority : options.h2d_priority;
    HS_ASSIGN_OR_RETURN(lane->stream, hs::cuda::Stream::Create(options.device, prio));
    HS_CUDA_RETURN_IF_ERROR(cudaStreamGetPriority(lane->stream.get(), &lane->priority));
  }
  HS_ASSIGN_OR_RETURN(c->begin_, hs::cuda::Event::Create());
  return c;
}

CudaCopier::~CudaCopier() {
  // Errors are ignored: the context may be gone at exit, and nothing can
  // be done about a failed copy here (its caller already got the error).
  if (!Bind().ok()) return;
  (void)d2h_.stream.Synchronize();
  (void)h2d_.stream.Synchronize();
  for (const auto& [ptr, bytes] : registered_) (void)cudaHostUnregister(ptr);
  (void)cudaGetLastError();
}

absl::Status CudaCopier::Bind() const {
  int current = -1;
  HS_CUDA_RETURN_IF_ERROR(cudaGetDevice(&current));
  if (current != options_.device) HS_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  return absl::OkStatus();
}

absl::Status CudaCopier::Register(void* host, int64_t bytes) {
  if (bytes <= 0) return absl::OkStatus();
  HS_RETURN_IF_ERROR(Bind());
  const cudaError_t err =
      cudaHostRegister(host, static_cast<size_t>(bytes), cudaHostRegisterPortable);
  if (err == cudaErrorHostMemoryAlreadyRegistered) {
    (void)cudaGetLastError();  // pinned by the caller: fine, and theirs to undo
    return absl::OkStatus();
  }
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return Annotate(HS_CUDA_STATUS(err), absl::StrCat("pinning ", bytes,
                                                      " bytes of the node's shared "
                                                      "segment (cudaHostRegister(host, bytes, "
                                                      "cudaHostRegisterPortable))"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  registered_.emplace_back(host, bytes);
  return absl::OkStatus();
}

absl::Status CudaCopier::BeginCall() {
  HS_RETURN_IF_ERROR(Bind());
  std::lock_guard<std::mutex> lock(mu_);
  HS_RETURN_IF_ERROR(begin_.Record(producer_));
  return d2h_.stream.WaitEvent(begin_);
}

void CudaCopier::Copy(Lane& lane, void* dst, const void* src, int64_t bytes, int tag) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!lane.pending.ok()) return;  // reported at the next wait
  absl::Status s = Bind();
  if (s.ok() && tag < 0) {
    s = absl::InvalidArgumentError(absl::StrCat("CudaCopier: negative tag ", tag));
  }
  while (s.ok() && tag >= static_cast<int>(lane.events.size())) {
    absl::StatusOr<hs::cuda::Event> e = hs::cuda::Event::Create();
    if (e.ok())
      lane.events.push_back(std::move(*e));
    else
      s = e.status();
  }
  if (s.ok() && bytes > 0) {
    // cudaMemcpyDefault: the direction follows from the pointers (UVA), so
    // a host "device" buffer (the benchmark's baseline) works too.
    s = HS_CUDA_STATUS(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDefault,
                                       lane.stream.get()));
  }
  if (s.ok()) s = lane.events[tag].Record(lane.stream.get());
  if (!s.ok()) {
    (void)cudaGetLastError();
    lane.pending =
        Annotate(s, absl::StrCat(lane.name, " copy of ", bytes, " bytes (tag ", tag, ")"));
  }
}

void CudaCopier::CopyToHostAsync(void* host, const void* device, int64_t bytes, int tag) {
  Copy(d2h_, host, device, bytes, tag);
}

void CudaCopier::CopyToDeviceAsync(void* device, const void* host, int64_t bytes, int tag) {
  Copy(h2d_, device, host, bytes, tag);
}

absl::Status CudaCopier::Wait(Lane& lane, int tag) {
  cudaEvent_t event = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lane.pending.ok()) return std::exchange(lane.pending, absl::OkStatus());
    if (tag < 0 || tag >= static_cast<int>(lane.events.size())) return absl::OkStatus();
    event = lane.events[tag].get();
  }
  // Outside the lock: the caller's BeginCall must not wait behind a copy.
  // The event outlives this (events are only added, never destroyed).
  return Annotate(HS_CUDA_STATUS(cudaEventSynchronize(event)),
                  absl::StrCat(lane.name, " copy (tag ", tag, ")"));
}

absl::Status CudaCopier::WaitToHost(int tag) { return Wait(d2h_, tag); }
absl::Status CudaCopier::WaitToDevice(int tag) { return Wait(h2d_, tag); }

absl::Status CudaCopier::Synchronize() {
  absl::Status pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Lane* lane : {&d2h_, &h2d_}) {
      if (pending.ok() && !lane->pending.ok()) pending = lane->pending;
      lane->pending = absl::OkStatus();
    }
  }
  HS_RETURN_IF_ERROR(Bind());
  absl::Status a = Annotate(d2h_.stream.Synchronize(), "D2H stream");
  absl::Status b = Annotate(h2d_.stream.Synchronize(), "H2D stream");
  if (!pending.ok()) return pending;
  return a.ok() ? b : a;
}

std::string CudaCopier::Describe() const {
  return absl::StrCat("cuda device ", options_.device, " (D2H stream priority ", d2h_.priority,
                      ", H2D stream priority ", h2d_.priority, ")");
}

}  // namespace hs::hfreduce::gpu
