// File: models/kernels/cuda/embedding_cuda_test.cc
//
// Parity: CUDA embedding fwd/bwd vs cpu::Embedding{Forward,Backward}.
// Tokens repeat a lot (a small id range) so the backward's accumulation
// of the same row from many positions is exercised.
// Tolerances: forward exact (a copy); dtable fp32 atol 1e-5, rtol 1e-5
// (same additions in the same order as the CPU twin).
#include <cstdio>

#include "models/kernels/cpu/embedding.h"
#include "models/kernels/cuda/embedding.h"
#include "models/kernels/cuda/parity.h"

namespace hs::kernels::cuda::testing {
namespace {

bool RunCase(int64_t N, int64_t C, int64_t V, int64_t id_range, uint64_t seed) {
  std::printf("case N=%lld C=%lld V=%lld ids<%lld\n", (long long)N, (long long)C,
              (long long)V, (long long)id_range);
  std::vector<float> idf = RandomFloats(N, seed, 0.0f, float(id_range));
  std::vector<int32_t> tokens(N);
  for (int64_t n = 0; n < N; ++n) tokens[n] = int32_t(idf[n]) % int32_t(V);
  Bf16Data table = RandomBf16(V * C, seed + 1, -1.0f, 1.0f);
  Bf16Data dout = RandomBf16(N * C, seed + 2, -1.0f, 1.0f);
  std::vector<float> dtable0 = RandomFloats(V * C, seed + 3, -0.1f, 0.1f);

  std::vector<float> out_ref(N * C), dtable_ref = dtable0;
  cpu::EmbeddingForward(out_ref.data(), tokens.data(), table.f32.data(), N, C);
  cpu::EmbeddingBackward(dtable_ref.data(), tokens.data(), dout.f32.data(), N, C);

  DeviceArray<int32_t> d_tok(tokens);
  DeviceArray<uint16_t> d_table(table.bits), d_out(N * C), d_dout(dout.bits);
  DeviceArray<float> d_dtable(dtable0);
  ExpectCuda(EmbeddingForward(d_out.get(), d_tok.get(), d_table.get(), N, C, V, nullptr),
             "EmbeddingForward");
  ExpectCuda(EmbeddingBackward(d_dtable.get(), d_tok.get(), d_dout.get(), N, C, V, nullptr),
             "EmbeddingBackward");
  Sync();
  bool ok = true;
  ok &= Check("out", Widen(d_out.Download()), out_ref, {0.0, 0.0});
  ok &= Check("dtable", d_dtable.Download(), dtable_ref, {1e-5, 1e-5});
  return ok;
}

}  // namespace
}  // namespace hs::kernels::cuda::testing

int main() {
  using namespace hs::kernels::cuda::testing;
  const char* kTest = "embedding_cuda_test";
  if (!StartOrSkip(kTest)) return 0;
  bool ok = true;
  ok &= RunCase(512, 256, 1000, 50, 31);      // heavy repetition
  ok &= RunCase(2500, 300, 5000, 5000, 32);   // > one token tile, ragged C
  return Finish(kTest, ok);
}
