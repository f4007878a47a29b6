// File: models/kernels/cuda/rope_cuda_test.cc
//
// Parity: CUDA interleaved RoPE vs cpu::Rope{Forward,Backward}, with the
// cos/sin tables of cpu::RopeTables (YaRN on). The forward runs in place
// on the rope slice of a q-shaped buffer [B, T, H, 192] (nope 128 | rope
// 64), the CPU twin on a copy; the untouched nope part must survive.
// Tolerance: 1 bf16 rounding of the same fp32 values (no FMA on either
// side): atol 1e-6, rtol 7.9e-3 (2^-7).
#include <cstdio>

#include "models/kernels/cpu/rope.h"
#include "models/kernels/cuda/parity.h"
#include "models/kernels/cuda/rope.h"

namespace hs::kernels::cuda::testing {
namespace {

constexpr Tolerance kRopeTol{1e-6, 7.9e-3};

bool RunCase(int64_t B, int64_t T, int64_t H, int64_t pos_offset, uint64_t seed) {
  const int64_t D = 64, Dq = 192, off = 128;
  std::printf("case B=%lld T=%lld H=%lld D=%lld pos_offset=%lld\n", (long long)B,
              (long long)T, (long long)H, (long long)D, (long long)pos_offset);
  cpu::RopeScaling sc;
  sc.yarn = true;
  sc.factor = 40.0;
  sc.mscale = 0.707;
  sc.mscale_all_dim = 0.707;
  std::vector<float> inv = cpu::RopeInvFreq(D, 10000.0, sc);
  const int64_t P = pos_offset + T;
  std::vector<float> cos(P * D / 2), sin(P * D / 2);
  cpu::RopeTables(cos.data(), sin.data(), inv, P, cpu::RopeCosSinScale(sc));

  // Forward, in place on the rope slice.
  Bf16Data q = RandomBf16(B * T * H * Dq, seed, -3.0f, 3.0f);
  std::vector<float> q_ref = q.f32;
  cpu::RopeForward(q_ref.data() + off, H * Dq, Dq, q.f32.data() + off, H * Dq, Dq,
                   cos.data(), sin.data(), B, T, H, D, pos_offset);
  // Backward, out of place, contiguous [B, T, H, D].
  Bf16Data d = RandomBf16(B * T * H * D, seed + 1, -1.0f, 1.0f);
  std::vector<float> dx_ref(B * T * H * D);
  cpu::RopeBackward(dx_ref.data(), H * D, D, d.f32.data(), H * D, D, cos.data(),
                    sin.data(), B, T, H, D, pos_offset);

  DeviceArray<float> d_cos(cos), d_sin(sin);
  DeviceArray<uint16_t> d_q(q.bits), d_d(d.bits), d_dx(B * T * H * D);
  ExpectCuda(RopeForward(d_q.get() + off, H * Dq, Dq, d_q.get() + off, H * Dq, Dq,
                         d_cos.get(), d_sin.get(), B, T, H, D, pos_offset, nullptr),
             "RopeForward");
  ExpectCuda(RopeBackward(d_dx.get(), H * D, D, d_d.get(), H * D, D, d_cos.get(),
                          d_sin.get(), B, T, H, D, pos_offset, nullptr),
             "RopeBackward");
  Sync();
  bool ok = true;
  ok &= Check("q_inplace", Widen(d_q.Download()), q_ref, kRopeTol);
  ok &= Check("dinp", Widen(d_dx.Download()), dx_ref, kRopeTol);
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  const char* kTest = "rope_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  bool ok = true;
  ok &= RunCase(2, 128, 16, 0, 41);
  ok &= RunCase(1, 7, 3, 500, 42);  // odd sizes, KV-cache offset
  return Finish(kTest, ok);
}
