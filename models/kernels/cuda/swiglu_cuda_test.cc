// File: models/kernels/cuda/swiglu_cuda_test.cc
//
// Parity: CUDA SwiGLU fwd/bwd vs cpu::SwiGlu{Forward,Backward}.
// Tolerances (bf16 outputs): atol 1e-2, rtol 1.6e-2 (~2 bf16 ulps).
#include <cstdio>

#include "models/kernels/cpu/swiglu.h"
#include "models/kernels/cuda/parity.h"
#include "models/kernels/cuda/swiglu.h"

namespace hs::kernels::cuda::testing {
namespace {

constexpr Tolerance kBf16Tol{1e-2, 1.6e-2};

bool RunCase(int64_t N, int64_t I, uint64_t seed) {
  std::printf("case N=%lld I=%lld\n", (long long)N, (long long)I);
  Bf16Data gu = RandomBf16(N * 2 * I, seed, -6.0f, 6.0f);
  Bf16Data dout = RandomBf16(N * I, seed + 1, -1.0f, 1.0f);
  std::vector<float> out_ref(N * I), dgu_ref(N * 2 * I);
  cpu::SwiGluForward(out_ref.data(), gu.f32.data(), N, I);
  cpu::SwiGluBackward(dgu_ref.data(), dout.f32.data(), gu.f32.data(), N, I);

  DeviceArray<uint16_t> d_gu(gu.bits), d_out(N * I), d_dout(dout.bits),
      d_dgu(N * 2 * I);
  ExpectCuda(SwiGluForward(d_out.get(), d_gu.get(), N, I, nullptr), "SwiGluForward");
  ExpectCuda(SwiGluBackward(d_dgu.get(), d_dout.get(), d_gu.get(), N, I, nullptr),
             "SwiGluBackward");
  Sync();
  bool ok = true;
  ok &= Check("out", Widen(d_out.Download()), out_ref, kBf16Tol);
  ok &= Check("dgate_up", Widen(d_dgu.Download()), dgu_ref, kBf16Tol);
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  const char* kTest = "swiglu_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  bool ok = true;
  ok &= RunCase(64, 1408, 21);  // DeepSeek-V2-Lite expert width
  ok &= RunCase(33, 999, 22);
  return Finish(kTest, ok);
}
