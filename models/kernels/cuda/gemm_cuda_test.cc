// File: models/kernels/cuda/gemm_cuda_test.cc
//
// Parity: cuBLASLt Linear forward / backward-input / backward-weight and
// the grouped expert GEMMs vs cpu::Linear* (OpenBLAS fp32) on the same
// bf16-rounded inputs, at DeepSeek-V2 shapes (C = 5120, q_lora_rank 1536,
// expert width 1408) and ragged ones; also that the plan cache answers a
// repeated shape without a new heuristic query.
// Tolerances (|gpu - cpu| <= atol + rtol*|cpu|):
//   out, dinp (bf16)   atol 1e-4, rtol 7.9e-3: fp32 sums in another order,
//                      then one bf16 rounding (up to 1 ulp apart, 2^-8)
//   dweight (fp32 +=)  atol 1e-3, rtol 1e-4: summation order over N rows
#include <cmath>
#include <cstdio>
#include <memory>

#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cuda/gemm.h"
#include "models/kernels/cuda/parity.h"

namespace hs::kernels::cuda::testing {
namespace {

constexpr Tolerance kBf16Tol{1e-4, 7.9e-3};
constexpr Tolerance kF32Tol{1e-3, 1e-4};

void ExpectOk(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "FATAL: %s: %s\n", what, s.ToString().c_str());
  std::exit(2);
}

bool LinearCase(GemmContext& ctx, int64_t N, int64_t I, int64_t O, uint64_t seed) {
  std::printf("linear N=%lld I=%lld O=%lld\n", (long long)N, (long long)I, (long long)O);
  const float wr = 1.0f / std::sqrt(float(I));
  Bf16Data inp = RandomBf16(N * I, seed, -1.0f, 1.0f);
  Bf16Data w = RandomBf16(O * I, seed + 1, -wr, wr);
  Bf16Data dout = RandomBf16(N * O, seed + 2, -1.0f, 1.0f);
  Bf16Data dinp0 = RandomBf16(N * I, seed + 3, -1.0f, 1.0f);
  std::vector<float> dw0 = RandomFloats(O * I, seed + 4, -1.0f, 1.0f);

  std::vector<float> out_ref(N * O), dinp_ref = dinp0.f32, dw_ref = dw0;
  cpu::LinearForward(out_ref.data(), inp.f32.data(), w.f32.data(), N, I, O);
  cpu::LinearBackwardInput(dinp_ref.data(), dout.f32.data(), w.f32.data(), N, I, O);
  cpu::LinearBackwardWeight(dw_ref.data(), dout.f32.data(), inp.f32.data(), N, I, O);

  DeviceArray<uint16_t> d_inp(inp.bits), d_w(w.bits), d_dout(dout.bits), d_out(N * O),
      d_dinp(dinp0.bits);
  DeviceArray<float> d_dw(dw0);
  ExpectOk(LinearForward(ctx, d_out.get(), d_inp.get(), d_w.get(), N, I, O, nullptr),
           "LinearForward");
  ExpectOk(LinearBackwardInput(ctx, d_dinp.get(), d_dout.get(), d_w.get(), N, I, O, nullptr),
           "LinearBackwardInput");
  ExpectOk(LinearBackwardWeight(ctx, d_dw.get(), d_dout.get(), d_inp.get(), N, I, O, nullptr),
           "LinearBackwardWeight");
  Sync();
  bool ok = Check("out", Widen(d_out.Download()), out_ref, kBf16Tol);
  ok &= Check("dinp (+=)", Widen(d_dinp.Download()), dinp_ref, kBf16Tol);
  ok &= Check("dweight (+=)", d_dw.Download(), dw_ref, kF32Tol);

  // The same shape again: every plan comes from the cache.
  const int64_t calls = ctx.heuristic_calls();
  ExpectOk(LinearForward(ctx, d_out.get(), d_inp.get(), d_w.get(), N, I, O, nullptr),
           "LinearForward (cached)");
  Sync();
  const bool cached = ctx.heuristic_calls() == calls;
  std::printf("  %-12s no new heuristic query: %s (%zu plans)\n", "plan cache",
              cached ? "OK" : "NOT OK", ctx.plan_count());
  return ok && cached;
}

bool GroupedCase(GemmContext& ctx, const std::vector<int64_t>& offsets, int64_t I, int64_t O,
                 uint64_t seed) {
  const int64_t E = int64_t(offsets.size()) - 1, R = offsets.back();
  std::printf("grouped E=%lld R=%lld I=%lld O=%lld\n", (long long)E, (long long)R,
              (long long)I, (long long)O);
  const float wr = 1.0f / std::sqrt(float(I));
  Bf16Data inp = RandomBf16(R * I, seed, -1.0f, 1.0f);
  Bf16Data dout = RandomBf16(R * O, seed + 1, -1.0f, 1.0f);
  std::vector<Bf16Data> w;
  std::vector<std::unique_ptr<DeviceArray<uint16_t>>> d_w;
  std::vector<std::unique_ptr<DeviceArray<float>>> d_dw;
  std::vector<const bf16_bits*> w_ptrs;
  std::vector<float*> dw_ptrs;
  for (int64_t e = 0; e < E; ++e) {
    w.push_back(RandomBf16(O * I, seed + 10 + e, -wr, wr));
    d_w.push_back(std::make_unique<DeviceArray<uint16_t>>(w.back().bits));
    d_dw.push_back(std::make_unique<DeviceArray<float>>(O * I));
    w_ptrs.push_back(d_w.back()->get());
    dw_ptrs.push_back(d_dw.back()->get());
  }
  std::vector<float> out_ref(R * O), dinp_ref(R * I, 0.0f), dw_ref(E * O * I, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = offsets[e], rows = offsets[e + 1] - r0;
    if (rows == 0) continue;
    cpu::LinearForward(out_ref.data() + r0 * O, inp.f32.data() + r0 * I, w[e].f32.data(),
                       rows, I, O);
    cpu::LinearBackwardInput(dinp_ref.data() + r0 * I, dout.f32.data() + r0 * O,
                             w[e].f32.data(), rows, I, O);
    cpu::LinearBackwardWeight(dw_ref.data() + e * O * I, dout.f32.data() + r0 * O,
                              inp.f32.data() + r0 * I, rows, I, O);
  }
  DeviceArray<uint16_t> d_inp(inp.bits), d_dout(dout.bits), d_out(R * O), d_dinp(R * I);
  ExpectOk(GroupedLinearForward(ctx, d_out.get(), d_inp.get(), w_ptrs.data(), offsets.data(),
                                E, I, O, nullptr),
           "GroupedLinearForward");
  ExpectOk(GroupedLinearBackwardInput(ctx, d_dinp.get(), d_dout.get(), w_ptrs.data(),
                                      offsets.data(), E, I, O, nullptr),
           "GroupedLinearBackwardInput");
  ExpectOk(GroupedLinearBackwardWeight(ctx, dw_ptrs.data(), d_dout.get(), d_inp.get(),
                                       offsets.data(), E, I, O, nullptr),
           "GroupedLinearBackwardWeight");
  Sync();
  std::vector<float> dw_gpu;
  for (int64_t e = 0; e < E; ++e) {
    const std::vector<float> part = d_dw[e]->Download();
    dw_gpu.insert(dw_gpu.end(), part.begin(), part.end());
  }
  bool ok = Check("out", Widen(d_out.Download()), out_ref, kBf16Tol);
  ok &= Check("dinp", Widen(d_dinp.Download()), dinp_ref, kBf16Tol);
  ok &= Check("dweight", dw_gpu, dw_ref, kF32Tol);
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  using hs::kernels::cuda::GemmContext;
  const char* kTest = "gemm_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  absl::StatusOr<std::unique_ptr<GemmContext>> ctx = GemmContext::Create();
  if (!ctx.ok()) {
    std::printf("FATAL: GemmContext::Create: %s\n", ctx.status().ToString().c_str());
    return 2;
  }
  bool ok = true;
  ok &= LinearCase(**ctx, 512, 5120, 1536, 61);  // q_a_proj
  ok &= LinearCase(**ctx, 256, 1408, 5120, 62);  // expert down_proj
  ok &= LinearCase(**ctx, 37, 24, 40, 63);       // ragged, unaligned rows
  // Experts with 0 rows and with odd row counts (unaligned row pointers).
  ok &= GroupedCase(**ctx, {0, 100, 100, 351, 400}, 256, 2 * 1408 / 8, 64);
  ok &= GroupedCase(**ctx, {0, 7, 64, 64, 65}, 5120, 1408, 65);
  return Finish(kTest, ok);
}
