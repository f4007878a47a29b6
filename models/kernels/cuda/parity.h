// File: models/kernels/cuda/parity.h
//
// The harness every <op>_cuda_test uses (llm.c's check_tensor shape): run
// the CUDA kernel and the CPU reference on the same seeded inputs, then
// print one line per output tensor:
//   "  out        n=65536   maxdiff=3.05e-05  max_rel=3.9e-03  (atol 1e-02, rtol 1.6e-02) OK"
// An element passes when |gpu - cpu| <= atol + rtol * |cpu|; max_rel is
// max |gpu - cpu| / |cpu| over elements with |cpu| > atol. Without a GPU,
// StartOrSkip prints "SKIPPED: no CUDA device (...)" and the test exits 0.
//
// Usage:
//   int main() {
//     if (!StartOrSkip("rms_norm_cuda_test")) return 0;
//     auto x = RandomBf16(n, /*seed=*/1, -2, 2);
//     DeviceArray<uint16_t> dx(x.bits);
//     ... launch ..., Sync();
//     bool ok = Check("out", dout.Download(), ref, kBf16Tol);
//     return Finish("rms_norm_cuda_test", ok);
//   }
#ifndef MODELS_KERNELS_CUDA_PARITY_H_
#define MODELS_KERNELS_CUDA_PARITY_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "haiscale/tensor.h"

namespace hs::kernels::cuda::testing {

// Tolerance: |gpu - cpu| <= atol + rtol * |cpu|.
struct Tolerance {
  double atol;
  double rtol;
};

// StartOrSkip(test): selects device 0 and prints the device; false (after
// printing "SKIPPED: no CUDA device (<reason>)") when there is none.
bool StartOrSkip(const char* test);

// ExpectCuda(err, what): aborts with a message unless err == cudaSuccess.
void ExpectCuda(cudaError_t err, const char* what);

// Sync(): cudaDeviceSynchronize, aborting on a kernel error.
void Sync();

// Bf16Data: bf16 bits and the exactly widened floats.
struct Bf16Data {
  std::vector<uint16_t> bits;
  std::vector<float> f32;
};

// RandomFloats(n, seed, lo, hi): uniform in [lo, hi) (std::mt19937_64).
std::vector<float> RandomFloats(int64_t n, uint64_t seed, float lo, float hi);
// RandomBf16(n, seed, lo, hi): RandomFloats rounded to bf16.
Bf16Data RandomBf16(int64_t n, uint64_t seed, float lo, float hi);
// ToBf16(x): round-to-nearest-even bits and widened values of x.
Bf16Data ToBf16(const std::vector<float>& x);
// Widen(bits): bf16 bits -> floats.
std::vector<float> Widen(const std::vector<uint16_t>& bits);

// DeviceArray<T>: a device copy of a host vector, allocated as a CUDA
// Tensor (so through the caching allocator's hooks).
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host);
  explicit DeviceArray(int64_t n);  // zero-filled
  T* get() const { return static_cast<T*>(t_.raw_data()); }
  int64_t size() const { return n_; }
  std::vector<T> Download() const;

 private:
  Tensor t_;
  int64_t n_ = 0;
};

// Check(label, gpu, cpu, tol): prints the line described above; true = OK.
bool Check(const char* label, const std::vector<float>& gpu,
           const std::vector<float>& cpu, Tolerance tol);

// Finish(test, ok): prints "<test>: PASSED" / "FAILED"; the exit code.
int Finish(const char* test, bool ok);

}  // namespace hs::kernels::cuda::testing

#endif  // MODELS_KERNELS_CUDA_PARITY_H_
