// File: models/kernels/cuda/moe_cuda_test.cc
//
// Parity: CUDA MoE routing vs the CPU twins on the same inputs.
//   router softmax fwd/bwd   vs cpu::Softmax{Forward,Backward}
//   top-k (greedy, group-limited, with many ties) vs cpu::TopKSelect, fed
//                            the same scores: indices and weights EXACT
//   permute                  vs LocalExpertDispatcher::Dispatch: offsets,
//                            slot rows and expert rows EXACT
//   combine fwd/bwd          vs Combine / CombineBackward plus the weighted
//                            sum of models/layers/moe.cc
//   permute backward         vs DispatchBackward
//   invalid expert ids       counted, row -1, no row written
// Tolerances: probs, dlogits (fp32) atol 1e-9, rtol 2e-6 (expf vs the CPU's
// Exp, both within 2 ulps); y, dexpert_out, dx (bf16) atol 1e-6, rtol
// 3.9e-3 (the same fp32 sums, one bf16 rounding); dweight (fp32 from an
// fp64 dot) atol 1e-5, rtol 1e-6.
#include <cstdio>
#include <cstring>

#include "models/kernels/cpu/moe_gate.h"
#include "models/kernels/cuda/moe.h"
#include "models/kernels/cuda/parity.h"
#include "models/moe/expert_dispatcher.h"

namespace hs::kernels::cuda::testing {
namespace {

bool Exact(const char* label, bool same) {
  std::printf("  %-12s exact: %s\n", label, same ? "OK" : "NOT OK");
  return same;
}

bool RouterCase(int64_t N, int64_t E, uint64_t seed) {
  std::printf("router softmax N=%lld E=%lld\n", (long long)N, (long long)E);
  std::vector<float> logits = RandomFloats(N * E, seed, -4.0f, 4.0f);
  std::vector<float> dprobs = RandomFloats(N * E, seed + 1, -1.0f, 1.0f);
  std::vector<float> p_ref(N * E), dl_ref(N * E);
  cpu::SoftmaxForward(p_ref.data(), logits.data(), N, E);
  cpu::SoftmaxBackward(dl_ref.data(), dprobs.data(), p_ref.data(), N, E);
  DeviceArray<float> d_logits(logits), d_dprobs(dprobs), d_p(N * E), d_dl(N * E);
  ExpectCuda(MoeRouterSoftmax(d_p.get(), d_logits.get(), N, E, nullptr), "MoeRouterSoftmax");
  ExpectCuda(MoeRouterSoftmaxBackward(d_dl.get(), d_dprobs.get(), d_p.get(), N, E, nullptr),
             "MoeRouterSoftmaxBackward");
  Sync();
  bool ok = Check("probs", d_p.Download(), p_ref, {1e-9, 2e-6});
  // The backward on both sides from the CPU probs would hide nothing: the
  // GPU used its own probs, within 2e-6 of the CPU's.
  ok &= Check("dlogits", d_dl.Download(), dl_ref, {1e-7, 1e-5});
  return ok;
}

bool TopKCase(const char* name, const std::vector<float>& scores, int64_t N, int64_t E,
              int64_t K, bool group_limited, int64_t n_group, int64_t topk_group) {
  std::printf("top-k %s N=%lld E=%lld K=%lld\n", name, (long long)N, (long long)E,
              (long long)K);
  std::vector<int32_t> idx_ref(N * K);
  std::vector<float> w_ref(N * K);
  cpu::TopKSelect(idx_ref.data(), w_ref.data(), scores.data(), N, E, K, group_limited,
                  n_group, topk_group);
  DeviceArray<float> d_s(scores), d_w(N * K);
  DeviceArray<int32_t> d_idx(N * K);
  ExpectCuda(MoeTopK(d_idx.get(), d_w.get(), d_s.get(), N, E, K, group_limited, n_group,
                     topk_group, nullptr),
             "MoeTopK");
  Sync();
  bool ok = Exact("idx", d_idx.Download() == idx_ref);
  ok &= Exact("weight", d_w.Download() == w_ref);
  return ok;
}

bool PermuteCase(int64_t N, int64_t K, int64_t E, int64_t C, uint64_t seed) {
  std::printf("permute/combine N=%lld K=%lld E=%lld C=%lld\n", (long long)N, (long long)K,
              (long long)E, (long long)C);
  // Routing from the CPU top-k of random probabilities (distinct experts
  // per token, as in the model).
  std::vector<float> logits = RandomFloats(N * E, seed, -3.0f, 3.0f), probs(N * E);
  cpu::SoftmaxForward(probs.data(), logits.data(), N, E);
  std::vector<int32_t> idx(N * K);
  std::vector<float> w(N * K);
  cpu::TopKSelect(idx.data(), w.data(), probs.data(), N, E, K, false, 0, 0);
  Bf16Data x = RandomBf16(N * C, seed + 1, -2.0f, 2.0f);

  models::LocalExpertDispatcher disp(E);
  models::DispatchPlan plan;
  Tensor expert_in_ref;
  if (!disp.Dispatch(x.f32.data(), idx.data(), N, K, C, &plan, &expert_in_ref).ok()) {
    std::printf("  CPU dispatch failed\n");
    return false;
  }
  const int64_t R = plan.rows();
  DeviceArray<uint16_t> d_x(x.bits), d_ein(R * C);
  DeviceArray<int32_t> d_idx(idx), d_row(N * K), d_scratch(MoePermuteScratchInts(N * K, E)),
      d_invalid(1);
  DeviceArray<int64_t> d_off(E + 1);
  ExpectCuda(MoePermute(d_ein.get(), d_off.get(), d_row.get(), d_scratch.get(), d_invalid.get(),
                        d_x.get(), d_idx.get(), N, K, C, E, nullptr),
             "MoePermute");
  Sync();
  bool ok = Exact("offsets", d_off.Download() == plan.expert_offsets);
  const std::vector<int32_t> rows = d_row.Download();
  ok &= Exact("slot_row", std::vector<int64_t>(rows.begin(), rows.end()) == plan.slot_row);
  ok &= Exact("invalid=0", d_invalid.Download()[0] == 0);
  ok &= Check("expert_in", Widen(d_ein.Download()),
              std::vector<float>(expert_in_ref.data<float>(),
                                 expert_in_ref.data<float>() + R * C),
              {0.0, 0.0});

  // ---- combine forward: y[n] = sum_k w[n,k] * slot_out[n,k]
  Bf16Data eo = RandomBf16(R * C, seed + 2, -2.0f, 2.0f);
  Tensor eo_t = Tensor::Empty({R, C});
  std::memcpy(eo_t.data<float>(), eo.f32.data(), size_t(R * C) * sizeof(float));
  std::vector<float> slot_out(N * K * C), y_ref(N * C, 0.0f);
  if (!disp.Combine(eo_t, plan, slot_out.data()).ok()) return false;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < C; ++c)
        y_ref[n * C + c] += w[n * K + k] * slot_out[(n * K + k) * C + c];
  DeviceArray<uint16_t> d_eo(eo.bits), d_y(N * C);
  DeviceArray<float> d_w(w);
  ExpectCuda(MoeCombine(d_y.get(), d_eo.get(), d_w.get(), d_row.get(), N, K, C, nullptr),
             "MoeCombine");

  // ---- combine backward: dslot = w * dy; dw = <dy, slot_out>
  Bf16Data dy = RandomBf16(N * C, seed + 3, -1.0f, 1.0f);
  std::vector<float> dslot(N * K * C), dw_ref(N * K);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      double dot = 0;
      for (int64_t c = 0; c < C; ++c) {
        dslot[(n * K + k) * C + c] = w[n * K + k] * dy.f32[n * C + c];
        dot += double(dy.f32[n * C + c]) * slot_out[(n * K + k) * C + c];
      }
      dw_ref[n * K + k] = float(dot);
    }
  }
  Tensor deo_ref;
  if (!disp.CombineBackward(dslot.data(), plan, &deo_ref).ok()) return false;
  DeviceArray<uint16_t> d_dy(dy.bits), d_deo(R * C);
  DeviceArray<float> d_dw(N * K);
  ExpectCuda(MoeCombineBackward(d_deo.get(), d_dw.get(), d_dy.get(), d_eo.get(), d_w.get(),
                                d_row.get(), N, K, C, nullptr),
             "MoeCombineBackward");

  // ---- permute backward: dx += sum_k dexpert_in[row(n,k)]
  Bf16Data dein = RandomBf16(R * C, seed + 4, -1.0f, 1.0f);
  Bf16Data dx0 = RandomBf16(N * C, seed + 5, -1.0f, 1.0f);
  Tensor dein_t = Tensor::Empty({R, C});
  std::memcpy(dein_t.data<float>(), dein.f32.data(), size_t(R * C) * sizeof(float));
  std::vector<float> dx_ref = dx0.f32;
  if (!disp.DispatchBackward(dein_t, plan, dx_ref.data()).ok()) return false;
  DeviceArray<uint16_t> d_dein(dein.bits), d_dx(dx0.bits);
  ExpectCuda(MoePermuteBackward(d_dx.get(), d_dein.get(), d_row.get(), N, K, C, nullptr),
             "MoePermuteBackward");
  Sync();
  ok &= Check("y", Widen(d_y.Download()), y_ref, {1e-6, 3.9e-3});
  ok &= Check("dexpert_out", Widen(d_deo.Download()),
              std::vector<float>(deo_ref.data<float>(), deo_ref.data<float>() + R * C),
              {1e-6, 3.9e-3});
  ok &= Check("dweight", d_dw.Download(), dw_ref, {1e-5, 1e-6});
  ok &= Check("dx", Widen(d_dx.Download()), dx_ref, {1e-6, 3.9e-3});
  return ok;
}

bool InvalidIdsCase() {
  std::printf("permute with invalid ids\n");
  const int64_t N = 5, K = 2, E = 4, C = 8;
  const std::vector<int32_t> idx = {0, 3, -1, 2, 3, 4, 1, 0, 2, 2};
  // valid slots by expert: e0 {0, 7}, e1 {6}, e2 {3, 8, 9}, e3 {1, 4}
  const std::vector<int64_t> off_want = {0, 2, 3, 6, 8};
  const std::vector<int32_t> row_want = {0, 6, -1, 3, 7, -1, 2, 1, 4, 5};
  Bf16Data x = RandomBf16(N * C, 91, -1.0f, 1.0f);
  DeviceArray<uint16_t> d_x(x.bits), d_ein(N * K * C);
  DeviceArray<int32_t> d_idx(idx), d_row(N * K), d_scratch(MoePermuteScratchInts(N * K, E)),
      d_invalid(1);
  DeviceArray<int64_t> d_off(E + 1);
  ExpectCuda(MoePermute(d_ein.get(), d_off.get(), d_row.get(), d_scratch.get(), d_invalid.get(),
                        d_x.get(), d_idx.get(), N, K, C, E, nullptr),
             "MoePermute");
  Sync();
  bool ok = Exact("offsets", d_off.Download() == off_want);
  ok &= Exact("slot_row", d_row.Download() == row_want);
  ok &= Exact("invalid=2", d_invalid.Download()[0] == 2);
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  const char* kTest = "moe_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  bool ok = true;
  ok &= RouterCase(4096, 160, 81);  // DeepSeek-V2: 160 routed experts
  ok &= RouterCase(33, 64, 82);     // -Lite: 64
  {
    const int64_t N = 2048, E = 160;
    std::vector<float> logits = RandomFloats(N * E, 83, -3.0f, 3.0f), probs(N * E);
    hs::kernels::cpu::SoftmaxForward(probs.data(), logits.data(), N, E);
    ok &= TopKCase("greedy", probs, N, E, 6, false, 0, 0);
    ok &= TopKCase("group-limited 8/3", probs, N, E, 6, true, 8, 3);
    // Scores from 5 levels: most comparisons are ties (lower index wins),
    // groups tie too.
    std::vector<float> ties = RandomFloats(N * 64, 84, 0.0f, 5.0f);
    for (float& t : ties) t = float(int(t)) * 0.25f;
    ok &= TopKCase("ties greedy", ties, N, 64, 6, false, 0, 0);
    ok &= TopKCase("ties grouped", ties, N, 64, 6, true, 8, 3);
  }
  ok &= PermuteCase(512, 6, 160, 5120, 85);  // DeepSeek-V2 shapes
  ok &= PermuteCase(37, 2, 8, 24, 86);       // ragged: C % 8 != 0 (scalar copies)
  ok &= InvalidIdsCase();
  return Finish(kTest, ok);
}
