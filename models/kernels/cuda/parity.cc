// File: models/kernels/cuda/parity.cc
//
// Parity-test harness (see parity.h).
#include "models/kernels/cuda/parity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "haiscale/cuda/device.h"
#include "haiscale/dtype.h"

namespace hs::kernels::cuda::testing {

bool StartOrSkip(const char* test) {
  absl::StatusOr<hs::cuda::DeviceInfo> dev = hs::cuda::SelectDevice(0);
  if (!dev.ok()) {
    std::printf("%s: SKIPPED: no CUDA device (%s)\n", test,
                std::string(dev.status().message()).c_str());
    return false;
  }
  std::printf("%s on %s\n", test, dev->ToString().c_str());
  return true;
}

void ExpectCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  std::fprintf(stderr, "FATAL: %s: %s: %s\n", what, cudaGetErrorName(err),
               cudaGetErrorString(err));
  std::exit(2);
}

void Sync() { ExpectCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

std::vector<float> RandomFloats(int64_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(gen);
  return x;
}

Bf16Data ToBf16(const std::vector<float>& x) {
  Bf16Data d;
  d.bits.resize(x.size());
  d.f32.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    bf16 b = FloatToBf16(x[i]);
    d.bits[i] = b.bits;
    d.f32[i] = Bf16ToFloat(b);
  }
  return d;
}

Bf16Data RandomBf16(int64_t n, uint64_t seed, float lo, float hi) {
  return ToBf16(RandomFloats(n, seed, lo, hi));
}

std::vector<float> Widen(const std::vector<uint16_t>& bits) {
  std::vector<float> f(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) f[i] = Bf16ToFloat(bf16{bits[i]});
  return f;
}

template <typename T>
DeviceArray<T>::DeviceArray(int64_t n) : n_(n) {
  absl::StatusOr<Tensor> t = Tensor::TryEmpty(
      {std::max<int64_t>(n, 1) * int64_t(sizeof(T))}, DType::kU8,
      Device::Cuda(0));
  if (!t.ok()) {
    std::fprintf(stderr, "FATAL: device allocation: %s\n",
                 t.status().ToString().c_str());
    std::exit(2);
  }
  t_ = *t;
  ExpectCuda(cudaMemset(get(), 0, size_t(std::max<int64_t>(n, 1)) * sizeof(T)),
             "cudaMemset");
}

template <typename T>
DeviceArray<T>::DeviceArray(const std::vector<T>& host)
    : DeviceArray(int64_t(host.size())) {
  ExpectCuda(cudaMemcpy(get(), host.data(), host.size() * sizeof(T),
                        cudaMemcpyHostToDevice),
             "cudaMemcpy H2D");
}

template <typename T>
std::vector<T> DeviceArray<T>::Download() const {
  std::vector<T> host(static_cast<size_t>(n_));
  ExpectCuda(cudaMemcpy(host.data(), get(), host.size() * sizeof(T),
                        cudaMemcpyDeviceToHost),
             "cudaMemcpy D2H");
  return host;
}

template class DeviceArray<float>;
template class DeviceArray<double>;
template class DeviceArray<uint16_t>;
template class DeviceArray<int32_t>;
template class DeviceArray<int64_t>;

bool Check(const char* label, const std::vector<float>& gpu,
           const std::vector<float>& cpu, Tolerance tol) {
  double maxdiff = 0, max_rel = 0;
  int64_t bad = 0, first_bad = -1;
  if (gpu.size() != cpu.size()) {
    std::printf("  %-12s size mismatch %zu vs %zu NOT OK\n", label, gpu.size(),
                cpu.size());
    return false;
  }
  for (size_t i = 0; i < gpu.size(); ++i) {
    const double a = gpu[i], b = cpu[i];
    const double d = std::fabs(a - b);
    const bool nan_mismatch = std::isnan(a) != std::isnan(b);
    if (!std::isnan(d)) maxdiff = std::max(maxdiff, d);
    if (std::fabs(b) > tol.atol && !std::isnan(d)) {
      max_rel = std::max(max_rel, d / std::fabs(b));
    }
    if (nan_mismatch || (!std::isnan(d) && d > tol.atol + tol.rtol * std::fabs(b))) {
      if (first_bad < 0) first_bad = int64_t(i);
      ++bad;
    }
  }
  const bool ok = bad == 0;
  std::printf("  %-12s n=%-9zu maxdiff=%.3e max_rel=%.3e (atol %.1e, rtol %.1e) %s\n",
              label, gpu.size(), maxdiff, max_rel, tol.atol, tol.rtol,
              ok ? "OK" : "NOT OK");
  if (!ok) {
    std::printf("    %lld elements out of tolerance; first at %lld: gpu %.8g cpu %.8g\n",
                (long long)bad, (long long)first_bad, gpu[size_t(first_bad)],
                cpu[size_t(first_bad)]);
  }
  return ok;
}

int Finish(const char* test, bool ok) {
  std::printf("%s: %s\n", test, ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace hs::kernels::cuda::testing
