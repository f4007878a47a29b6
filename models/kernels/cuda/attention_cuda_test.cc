// File: models/kernels/cuda/attention_cuda_test.cc
//
// Parity: CUDA flash attention (forward and backward) vs
// cpu::Attention{Forward,Backward} on the same bf16-rounded q, k, v, dout,
// for DeepSeek-V2's head dims (192/128) and the small configs' (48/32,
// 24/16, padded to 32/16 inside the kernel), with T not a multiple of the
// tiles. The CPU backward is given the GPU's saved out (widened bf16) and
// lse, so both backward passes start from the same saved tensors.
// Also checks that a second backward run gives the same bits
// (deterministic: no atomics), and packed documents (positions restarting
// at each document start, block-diagonal causal attention) against the CPU
// kernel given the same positions.
//
// Tolerances (|gpu - cpu| <= atol + rtol*|cpu|):
//   out (bf16)          atol 4e-3, rtol 1.6e-2: output rounding (2^-9) plus
//                       P rounded to bf16 before the P.V MMA
//   lse (fp32)          atol 1e-4, rtol 1e-5: summation order only
//   dq, dk, dv (bf16)   atol max(1e-2 * max|ref|, 1e-5), rtol 2e-2: P, dS
//                       are rounded to bf16 before the MMAs (0.4% per term, the
//                       sums partly cancel), then the output rounding
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "models/kernels/cpu/attention.h"
#include "models/kernels/cuda/attention.h"
#include "models/kernels/cuda/parity.h"

namespace hs::kernels::cuda::testing {
namespace {

double MaxAbs(const std::vector<float>& x) {
  double m = 0;
  for (float v : x) m = std::max(m, double(std::fabs(v)));
  return m;
}

// GradTol: atol relative to the tensor's scale, floored at 1e-5 for
// gradients that are ~0 (a single token: dS = P (dP - D) = 0 up to
// rounding).
Tolerance GradTol(const std::vector<float>& ref) {
  return {std::max(1e-2 * MaxAbs(ref), 1e-5), 2e-2};
}

bool SameBits(const char* label, const std::vector<uint16_t>& a,
              const std::vector<uint16_t>& b) {
  const bool same = a == b;
  std::printf("  %-12s second run bit-identical: %s\n", label, same ? "OK" : "NOT OK");
  return same;
}

// DocumentPositions(B, T, lengths): each row packs documents of the given
// lengths (cycled), positions restarting at 0 at each document start.
std::vector<int32_t> DocumentPositions(int64_t B, int64_t T, const std::vector<int64_t>& lengths) {
  std::vector<int32_t> pos;
  for (int64_t b = 0; b < B; ++b) {
    size_t d = size_t(b) % lengths.size();
    int64_t in_doc = 0;
    for (int64_t t = 0; t < T; ++t) {
      if (in_doc == lengths[d]) {
        in_doc = 0;
        d = (d + 1) % lengths.size();
      }
      pos.push_back(int32_t(in_doc++));
    }
  }
  return pos;
}

// RunCase: `doc_lengths` empty = plain causal; else packed documents.
bool RunCase(int64_t B, int64_t T, int64_t H, int64_t Dk, int64_t Dv, uint64_t seed,
             const std::vector<int64_t>& doc_lengths = {}) {
  std::printf("case B=%lld T=%lld H=%lld Dk=%lld Dv=%lld%s\n", (long long)B, (long long)T,
              (long long)H, (long long)Dk, (long long)Dv,
              doc_lengths.empty() ? "" : " packed documents");
  const std::vector<int32_t> positions =
      doc_lengths.empty() ? std::vector<int32_t>() : DocumentPositions(B, T, doc_lengths);
  const int32_t* pos = positions.empty() ? nullptr : positions.data();
  DeviceArray<int32_t> d_pos(positions.empty() ? std::vector<int32_t>(1, 0) : positions);
  const int32_t* d_pos_ptr = positions.empty() ? nullptr : d_pos.get();
  const float scale = 1.0f / std::sqrt(float(Dk));
  const int64_t nqk = B * T * H * Dk, nv = B * T * H * Dv, nrow = B * H * T;
  Bf16Data q = RandomBf16(nqk, seed, -2.0f, 2.0f);
  Bf16Data k = RandomBf16(nqk, seed + 1, -2.0f, 2.0f);
  Bf16Data v = RandomBf16(nv, seed + 2, -1.0f, 1.0f);
  Bf16Data dout = RandomBf16(nv, seed + 3, -1.0f, 1.0f);

  // ---- forward
  std::vector<float> out_ref(nv), lse_ref(nrow);
  cpu::AttentionForward(out_ref.data(), lse_ref.data(), q.f32.data(), k.f32.data(),
                        v.f32.data(), B, T, H, Dk, Dv, scale, pos);
  DeviceArray<uint16_t> d_q(q.bits), d_k(k.bits), d_v(v.bits), d_dout(dout.bits);
  DeviceArray<uint16_t> d_out(nv), d_dq(nqk), d_dk(nqk), d_dv(nv);
  DeviceArray<float> d_lse(nrow), d_dsum(nrow);
  ExpectCuda(AttentionForward(d_out.get(), d_lse.get(), d_q.get(), d_k.get(), d_v.get(),
                              B, T, H, Dk, Dv, scale, nullptr, d_pos_ptr),
             "AttentionForward");
  Sync();
  const std::vector<uint16_t> out_bits = d_out.Download();
  const std::vector<float> out_gpu = Widen(out_bits), lse_gpu = d_lse.Download();
  bool ok = true;
  ok &= Check("out", out_gpu, out_ref, {4e-3, 1.6e-2});
  ok &= Check("lse", lse_gpu, lse_ref, {1e-4, 1e-5});

  // ---- backward, both sides from the GPU's saved out and lse
  std::vector<float> dq_ref(nqk), dk_ref(nqk), dv_ref(nv);
  cpu::AttentionBackward(dq_ref.data(), dk_ref.data(), dv_ref.data(), dout.f32.data(),
                         q.f32.data(), k.f32.data(), v.f32.data(), out_gpu.data(),
                         lse_gpu.data(), B, T, H, Dk, Dv, scale, pos);
  auto backward = [&] {
    ExpectCuda(AttentionBackward(d_dq.get(), d_dk.get(), d_dv.get(), d_dsum.get(),
                                 d_dout.get(), d_q.get(), d_k.get(), d_v.get(),
                                 d_out.get(), d_lse.get(), B, T, H, Dk, Dv, scale,
                                 nullptr, d_pos_ptr),
               "AttentionBackward");
    Sync();
  };
  backward();
  const std::vector<uint16_t> dq1 = d_dq.Download(), dk1 = d_dk.Download(),
                              dv1 = d_dv.Download();
  ok &= Check("dq", Widen(dq1), dq_ref, GradTol(dq_ref));
  ok &= Check("dk", Widen(dk1), dk_ref, GradTol(dk_ref));
  ok &= Check("dv", Widen(dv1), dv_ref, GradTol(dv_ref));
  backward();
  ok &= SameBits("dq", d_dq.Download(), dq1);
  ok &= SameBits("dk", d_dk.Download(), dk1);
  ok &= SameBits("dv", d_dv.Download(), dv1);
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  const char* kTest = "attention_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  bool ok = true;
  ok &= RunCase(1, 200, 2, 192, 128, 71);   // DeepSeek-V2 head dims, ragged T
  ok &= RunCase(1, 1024, 2, 192, 128, 72);  // many key tiles per query tile
  ok &= RunCase(2, 129, 3, 48, 32, 73);     // small config
  ok &= RunCase(1, 77, 2, 24, 16, 74);      // tiny config: Dk padded 24 -> 32
  ok &= RunCase(1, 1, 1, 192, 128, 75);     // a single token
  // Packed documents: one crossing tiles, 1-token ones, one longer than a tile.
  ok &= RunCase(2, 300, 2, 192, 128, 76, {40, 1, 150, 3, 70});
  ok &= RunCase(1, 129, 3, 48, 32, 77, {64, 65});
  return Finish(kTest, ok);
}
