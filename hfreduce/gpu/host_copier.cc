// File: hfreduce/gpu/host_copier.cc
//
// HostCopier (see host_copier.h): one Lane (queue + worker) per direction.
#include "hfreduce/gpu/host_copier.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace hs::hfreduce::gpu {

class HostCopier::Lane {
 public:
  Lane(const char* name, bool threaded, int64_t fail_at)
      : name_(name), threaded_(threaded), fail_at_(fail_at) {
    if (threaded_) worker_ = std::thread([this] { Loop(); });
  }

  ~Lane() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  void Issue(void* dst, const void* src, int64_t bytes, int tag) {
    Job job{dst, src, bytes, tag, 0, false};
    {
      std::lock_guard<std::mutex> lock(mu_);
      job.seq = ++issued_;
      job.fail = (issued_ - 1 == static_cast<uint64_t>(fail_at_));
      if (tag >= static_cast<int>(tag_seq_.size())) tag_seq_.resize(tag + 1, 0);
      tag_seq_[tag] = job.seq;
      bytes_ += bytes;
      if (threaded_) jobs_.push_back(job);
    }
    if (threaded_) {
      cv_.notify_all();
    } else {
      Run(job);
    }
  }

  // Waits until every copy up to `seq` ran; reports an error among them.
  absl::Status WaitSeq(uint64_t seq) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_ >= seq; });
    if (!error_.ok() && error_seq_ <= seq) {
      absl::Status e = error_;
      error_ = absl::OkStatus();  // reported once, as CUDA's sticky-free errors
      return e;
    }
    return absl::OkStatus();
  }

  absl::Status WaitTag(int tag) {
    uint64_t seq = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (tag >= 0 && tag < static_cast<int>(tag_seq_.size())) seq = tag_seq_[tag];
    }
    return WaitSeq(seq);
  }

  absl::Status WaitAll() {
    uint64_t seq;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seq = issued_;
    }
    return WaitSeq(seq);
  }

  int64_t copies() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(issued_);
  }
  int64_t bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }

 private:
  struct Job {
    void* dst;
    const void* src;
    int64_t bytes;
    int tag;
    uint64_t seq;
    bool fail;
  };

  void Run(const Job& job) {
    if (!job.fail && job.bytes > 0) std::memcpy(job.dst, job.src, job.bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (job.fail && error_.ok()) {
        error_ = absl::InternalError(absl::StrCat("HostCopier: injected failure of ", name_,
                                                  " copy #", job.seq - 1, " (tag ", job.tag, ", ",
                                                  job.bytes, " bytes)"));
        error_seq_ = job.seq;
      }
      done_ = job.seq;
    }
    cv_.notify_all();
  }

  void Loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stop_ and drained
        job = jobs_.front();
        jobs_.pop_front();
      }
      Run(job);
    }
  }

  const char* name_;
  const bool threaded_;
  const int64_t fail_at_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<uint64_t> tag_seq_;
  uint64_t issued_ = 0, done_ = 0;
  int64_t bytes_ = 0;
  absl::Status error_;
  uint64_t error_seq_ = 0;
  bool stop_ = false;
  std::thread worker_;
};

HostCopier::HostCopier(const Options& options)
    : options_(options),
      to_host_(std::make_unique<Lane>("D2H", options.threaded, options.fail_to_host_copy)),
      to_device_(std::make_unique<Lane>("H2D", options.threaded, options.fail_to_device_copy)) {}

HostCopier::~HostCopier() = default;

absl::Status HostCopier::Register(void* host, int64_t bytes) {
  if (host == nullptr || bytes < 0) {
    return absl::InvalidArgumentError("HostCopier::Register: bad range");
  }
  std::lock_guard<std::mutex> lock(mu_);
  registered_ += bytes;
  return absl::OkStatus();
}

void HostCopier::CopyToHostAsync(void* host, const void* device, int64_t bytes, int tag) {
  to_host_->Issue(host, device, bytes, tag);
}

void HostCopier::CopyToDeviceAsync(void* device, const void* host, int64_t bytes, int tag) {
  to_device_->Issue(device, host, bytes, tag);
}

absl::Status HostCopier::WaitToHost(int tag) { return to_host_->WaitTag(tag); }

absl::Status HostCopier::WaitToDevice(int tag) { return to_device_->WaitTag(tag); }

absl::Status HostCopier::Synchronize() {
  absl::Status a = to_host_->WaitAll();
  absl::Status b = to_device_->WaitAll();
  return a.ok() ? b : a;
}

std::string HostCopier::Describe() const {
  return options_.threaded ? "host memcpy (D2H and H2D worker threads)"
                           : "host memcpy (synchronous)";
}

int64_t HostCopier::copies_to_host() const { return to_host_->copies(); }
int64_t HostCopier::copies_to_device() const { return to_device_->copies(); }
int64_t HostCopier::bytes_to_host() const { return to_host_->bytes(); }
int64_t HostCopier::bytes_to_device() const { return to_device_->bytes(); }
int64_t HostCopier::registered_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return registered_;
}

}  // namespace hs::hfreduce::gpu
