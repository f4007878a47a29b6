// File: models/kernels/cuda/adamw_cuda_test.cc
//
// Parity: CUDA fused AdamW with device-side clipping vs optim::AdamWUpdate
// after optim::SumOfSquares / ClipScale / ScaleGradients, three steps.
// Tolerances: sum of squares rtol 1e-9 (both fp64, different order);
// norm/scale rtol 1e-6; p, m, v fp32 atol 1e-6, rtol 1e-5 (FMA
// contraction may differ between nvcc and gcc); p_bf16 rtol 7.9e-3.
#include <cmath>
#include <cstdio>

#include "models/kernels/cuda/adamw.h"
#include "models/kernels/cuda/parity.h"
#include "optim/adamw.h"
#include "optim/clip.h"

namespace hs::kernels::cuda::testing {
namespace {

bool RunCase(int64_t n, double max_norm, uint64_t seed) {
  std::printf("case n=%lld max_norm=%g\n", (long long)n, max_norm);
  optim::AdamWOptions o;  // 0.9, 0.95, 1e-8, wd 0.1
  const double lr = 3e-4;
  std::vector<float> p = RandomFloats(n, seed, -1.0f, 1.0f), m(n, 0.0f), v(n, 0.0f);
  DeviceArray<float> d_p(p), d_m(m), d_v(v), d_g(n), d_scale(1), d_norm(1);
  DeviceArray<uint16_t> d_pb(n);
  DeviceArray<double> d_sumsq(1), d_scratch(GradSumOfSquaresScratch(n));
  bool ok = true;
  for (int64_t t = 1; t <= 3; ++t) {
    std::vector<float> g = RandomFloats(n, seed + 10 * t, -0.05f, 0.05f);
    ExpectCuda(cudaMemcpy(d_g.get(), g.data(), n * sizeof(float), cudaMemcpyHostToDevice),
               "upload g");
    // CPU reference.
    const double ss = optim::SumOfSquares(g.data(), n);
    const double norm = std::sqrt(ss);
    const double scale = optim::ClipScale(norm, max_norm);
    if (scale != 1.0) optim::ScaleGradients(g.data(), n, scale);
    optim::AdamWUpdate(p.data(), g.data(), m.data(), v.data(), n, lr, o.weight_decay, o, t);
    // CUDA: sum in two spans to exercise accumulation.
    const int64_t half = n / 2;
    ExpectCuda(GradSumOfSquares(d_sumsq.get(), d_scratch.get(), d_g.get(), half, false,
                                nullptr), "GradSumOfSquares");
    ExpectCuda(GradSumOfSquares(d_sumsq.get(), d_scratch.get(), d_g.get() + half, n - half,
                                true, nullptr), "GradSumOfSquares (accumulate)");
    ExpectCuda(GradClipScale(d_scale.get(), d_norm.get(), d_sumsq.get(), max_norm, nullptr),
               "GradClipScale");
    ExpectCuda(AdamWStep(d_p.get(), d_pb.get(), d_g.get(), d_m.get(), d_v.get(), n,
                         MakeAdamWScalars(lr, o.weight_decay, o.beta1, o.beta2, o.eps, t),
                         d_scale.get(), nullptr),
               "AdamWStep");
    Sync();
    std::printf(" step %lld (cpu norm %.6g, scale %.6g)\n", (long long)t, norm, scale);
    const double gss = d_sumsq.Download()[0];
    ok &= Check("sumsq", {float(gss)}, {float(ss)}, {0.0, 1e-6});
    ok &= std::fabs(gss - ss) <= 1e-9 * ss;
    ok &= Check("norm", d_norm.Download(), {float(norm)}, {0.0, 1e-6});
    ok &= Check("scale", d_scale.Download(), {float(scale)}, {0.0, 1e-6});
    ok &= Check("p", d_p.Download(), p, {1e-6, 1e-5});
    ok &= Check("m", d_m.Download(), m, {1e-9, 1e-5});
    ok &= Check("v", d_v.Download(), v, {1e-12, 1e-5});
    ok &= Check("p_bf16", Widen(d_pb.Download()), p, {1e-6, 7.9e-3});
  }
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  const char* kTest = "adamw_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  bool ok = true;
  ok &= RunCase(1 << 20, 1.0, 61);     // norm ~16: clipped
  ok &= RunCase(100003, 1000.0, 62);   // not clipped, ragged n
  return Finish(kTest, ok);
}
