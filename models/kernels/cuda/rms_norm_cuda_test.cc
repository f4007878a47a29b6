// File: models/kernels/cuda/rms_norm_cuda_test.cc
//
// Parity: CUDA RMSNorm (+ residual) vs cpu::RmsNorm{Forward,Backward} on
// the same bf16-valued inputs. The CPU reference sees the bf16-rounded
// residual sum, as the CUDA kernel normalises it.
// Tolerances: residual_out exact (the same fp32 add, one rounding);
// bf16 outputs atol 1e-2, rtol 1.6e-2 (~2 bf16 ulps); fp32 rstd rtol 1e-5;
// fp32 dweight (sum over rows, different order) atol 1e-3, rtol 1e-4.
#include <cstdio>

#include "models/kernels/cpu/rms_norm.h"
#include "models/kernels/cuda/parity.h"
#include "models/kernels/cuda/rms_norm.h"

namespace hs::kernels::cuda::testing {
namespace {

constexpr Tolerance kBf16Tol{1e-2, 1.6e-2};

bool RunCase(int64_t N, int64_t C, bool with_residual, uint64_t seed) {
  std::printf("case N=%lld C=%lld residual=%d\n", (long long)N, (long long)C,
              int(with_residual));
  const float eps = 1e-6f;
  Bf16Data res = RandomBf16(N * C, seed, -2.0f, 2.0f);
  Bf16Data x = RandomBf16(N * C, seed + 1, -2.0f, 2.0f);
  Bf16Data w = RandomBf16(C, seed + 2, 0.5f, 1.5f);
  Bf16Data dout = RandomBf16(N * C, seed + 3, -1.0f, 1.0f);
  Bf16Data dinp0 = RandomBf16(N * C, seed + 4, -0.5f, 0.5f);
  std::vector<float> dw0 = RandomFloats(C, seed + 5, -0.1f, 0.1f);

  // CPU reference.
  std::vector<float> r(N * C);
  for (int64_t i = 0; i < N * C; ++i) {
    r[i] = with_residual ? ToBf16({res.f32[i] + x.f32[i]}).f32[0] : x.f32[i];
  }
  std::vector<float> out_ref(N * C), rstd_ref(N);
  cpu::RmsNormForward(out_ref.data(), rstd_ref.data(), r.data(), w.f32.data(), N, C, eps);
  std::vector<float> dinp_ref = dinp0.f32, dw_ref = dw0;
  cpu::RmsNormBackward(dinp_ref.data(), dw_ref.data(), dout.f32.data(), r.data(),
                       w.f32.data(), rstd_ref.data(), N, C);

  // CUDA.
  DeviceArray<uint16_t> d_res(res.bits), d_x(x.bits), d_w(w.bits), d_out(N * C),
      d_rout(N * C), d_dout(dout.bits), d_dinp(dinp0.bits);
  DeviceArray<float> d_rstd(N), d_dw(dw0),
      d_scratch(RmsNormBackwardScratchFloats(N, C));
  ExpectCuda(RmsNormForward(d_rout.get(), d_out.get(), d_rstd.get(),
                            with_residual ? d_res.get() : nullptr, d_x.get(),
                            d_w.get(), N, C, eps, nullptr),
             "RmsNormForward");
  const uint16_t* saved = with_residual ? d_rout.get() : d_x.get();
  ExpectCuda(RmsNormBackward(d_dinp.get(), d_dw.get(), d_scratch.get(),
                             d_dout.get(), saved, d_w.get(), d_rstd.get(), N, C,
                             nullptr),
             "RmsNormBackward");
  Sync();

  bool ok = true;
  if (with_residual) ok &= Check("residual", Widen(d_rout.Download()), r, {0.0, 0.0});
  ok &= Check("out", Widen(d_out.Download()), out_ref, kBf16Tol);
  ok &= Check("rstd", d_rstd.Download(), rstd_ref, {0.0, 1e-5});
  ok &= Check("dinp", Widen(d_dinp.Download()), dinp_ref, kBf16Tol);
  ok &= Check("dweight", d_dw.Download(), dw_ref, {1e-3, 1e-4});
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  const char* kTest = "rms_norm_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  bool ok = true;
  ok &= RunCase(64, 1024, true, 11);
  ok &= RunCase(37, 1000, true, 12);    // ragged C, fewer rows than blocks
  ok &= RunCase(1100, 2048, false, 13); // more rows than backward blocks
  ok &= RunCase(8, 5120, true, 14);     // DeepSeek-V2 hidden size
  return Finish(kTest, ok);
}
