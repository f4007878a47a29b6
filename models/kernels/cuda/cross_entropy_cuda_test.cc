// File: models/kernels/cuda/cross_entropy_cuda_test.cc
//
// Parity: CUDA fused softmax cross-entropy vs cpu::CrossEntropy{Forward,
// Backward}, including ignored rows (target -100) and an in-place backward
// over a DeepSeek-V2-sized vocabulary (102400, many chunks per row).
// Tolerances: lse and losses fp32 atol 1e-4, rtol 1e-5 (different
// summation order over V); dlogits bf16 atol 1e-7 (the values are ~1/V),
// rtol 1.6e-2.
#include <cmath>
#include <cstdio>

#include "models/kernels/cpu/cross_entropy.h"
#include "models/kernels/cuda/cross_entropy.h"
#include "models/kernels/cuda/parity.h"

namespace hs::kernels::cuda::testing {
namespace {

bool RunCase(int64_t N, int64_t V, uint64_t seed) {
  std::printf("case N=%lld V=%lld\n", (long long)N, (long long)V);
  Bf16Data logits = RandomBf16(N * V, seed, -8.0f, 8.0f);
  std::vector<float> tf = RandomFloats(N, seed + 1, 0.0f, float(V));
  std::vector<int32_t> targets(N);
  for (int64_t n = 0; n < N; ++n) targets[n] = (n % 5 == 3) ? -100 : int32_t(tf[n]);

  std::vector<float> loss_ref(N), lse_ref(N), dlogits_ref(N * V);
  std::vector<cpu::SoftmaxRowStats> stats(N);
  const int64_t valid = cpu::CrossEntropyForward(loss_ref.data(), stats.data(),
                                                  logits.f32.data(), targets.data(), N, V);
  // lse = max + log(sum): the CPU keeps 1/sum (rounded to float), close enough here.
  for (int64_t n = 0; n < N; ++n) {
    lse_ref[n] = float(double(stats[n].max) - std::log(double(stats[n].inv_sum)));
  }
  const float scale = 1.0f / float(valid);
  cpu::CrossEntropyBackward(dlogits_ref.data(), logits.f32.data(), stats.data(),
                            targets.data(), N, V, scale);

  DeviceArray<uint16_t> d_logits(logits.bits);
  DeviceArray<int32_t> d_t(targets), d_valid(1);
  DeviceArray<float> d_loss(N), d_lse(N);
  ExpectCuda(CrossEntropyForward(d_loss.get(), d_lse.get(), d_logits.get(), d_t.get(),
                                 d_valid.get(), N, V, nullptr),
             "CrossEntropyForward");
  ExpectCuda(CrossEntropyBackward(d_logits.get(), d_logits.get(), d_lse.get(), d_t.get(),
                                  N, V, scale, nullptr),
             "CrossEntropyBackward (in place)");
  Sync();
  bool ok = true;
  const int gpu_valid = d_valid.Download()[0];
  std::printf("  %-12s gpu=%d cpu=%lld %s\n", "valid_rows", gpu_valid, (long long)valid,
              gpu_valid == valid ? "OK" : "NOT OK");
  ok &= gpu_valid == valid;
  ok &= Check("lse", d_lse.Download(), lse_ref, {1e-4, 1e-5});
  ok &= Check("losses", d_loss.Download(), loss_ref, {1e-4, 1e-5});
  ok &= Check("dlogits", Widen(d_logits.Download()), dlogits_ref, {1e-7, 1.6e-2});
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  const char* kTest = "cross_entropy_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  bool ok = true;
  ok &= RunCase(16, 102400, 51);
  ok &= RunCase(9, 1001, 52);
  return Finish(kTest, ok);
}
