// File: models/kernels/cpu/kernels_benchmark.cc
//
// Times every fp32 CPU kernel on the shapes of configs/bench/small (hidden
// 256, 8 heads, q/k head 48 = 32 nope + 16 rope, v head 32, batch 8 x 256
// tokens, vocab 8192, MLP intermediate 688) and prints one table row per
// kernel: `kernel | shape | ms | GFLOP/s or GB/s`. The MoE gate rows use a
// DeepSeek-V2-like router (64 experts, 8 groups, 3 kept, top-6), which the
// small config does not fix. Each kernel runs once to warm up, then
// repeatedly until 0.2 s have passed (at least 3 times); ms is the mean.
// GB/s counts the bytes each kernel must read and write once.
//
// Usage:
//   bazel run -c opt //models/kernels/cpu:kernels_benchmark -- [threads]
//   (threads <= 0 or absent: every core of this process's affinity)
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "haiscale/blas_env.h"
#include "haiscale/threads.h"
#include "models/kernels/cpu/attention.h"
#include "models/kernels/cpu/cross_entropy.h"
#include "models/kernels/cpu/elementwise.h"
#include "models/kernels/cpu/embedding.h"
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/moe_gate.h"
#include "models/kernels/cpu/rms_norm.h"
#include "models/kernels/cpu/rope.h"
#include "models/kernels/cpu/swiglu.h"

namespace hs::kernels::cpu {
namespace {

// Shapes of configs/bench/small.
constexpr int64_t kB = 8, kT = 256, kN = kB * kT;
constexpr int64_t kC = 256, kH = 8, kNope = 32, kRope = 16, kDk = kNope + kRope;
constexpr int64_t kDv = 32, kV = 8192, kI = 688;
constexpr int64_t kE = 64, kK = 6, kGroups = 8, kTopkGroup = 3;

// Filled with a smooth deterministic pattern in [-1, 1].
std::vector<float> Buffer(int64_t n, float phase) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin(0.37f * float(i) + phase);
  return v;
}

// TimeMs: mean wall time of fn in milliseconds (see the banner).
double TimeMs(const std::function<void()>& fn) {
  using Clock = std::chrono::steady_clock;
  fn();  // warm-up
  int64_t runs = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  while (runs < 3 || elapsed < 0.2) {
    fn();
    ++runs;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return 1e3 * elapsed / double(runs);
}

// Row: prints one table line; rate is GFLOP/s when flops > 0, else GB/s.
void Row(const std::string& kernel, const std::string& shape, double flops,
         double bytes, const std::function<void()>& fn) {
  const double ms = TimeMs(fn);
  char rate[64];
  if (flops > 0) {
    std::snprintf(rate, sizeof(rate), "%8.1f GFLOP/s", flops / ms * 1e-6);
  } else {
    std::snprintf(rate, sizeof(rate), "%8.2f GB/s", bytes / ms * 1e-6);
  }
  std::printf("%-24s | %-34s | %8.3f | %s\n", kernel.c_str(), shape.c_str(),
              ms, rate);
  std::fflush(stdout);
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

void Run() {
  constexpr double kF = sizeof(float);
  std::printf("# hardware: %s, %d OpenMP threads\n", CpuModel().c_str(),
              NumThreads());
  std::printf("# build: gcc %s, %s, fp32, OpenBLAS cblas_sgemm\n", __VERSION__,
#ifdef __OPTIMIZE__
              "optimized"
#else
              "not optimized"
#endif
  );
  std::printf("%-24s | %-34s | %8s | %s\n", "kernel", "shape", "ms",
              "GFLOP/s or GB/s");
  std::printf("%s\n", std::string(90, '-').c_str());

  // --- GEMM / Linear ---
  auto linear_rows = [&](const char* name, int64_t I, int64_t O) {
    std::vector<float> x = Buffer(kN * I, 0.1f), w = Buffer(O * I, 0.2f);
    std::vector<float> y(kN * O), dy = Buffer(kN * O, 0.3f);
    std::vector<float> dx(kN * I, 0.0f), dw(O * I, 0.0f);
    const double flops = 2.0 * kN * I * O;
    const std::string shape = "[" + std::to_string(kN) + "," +
                              std::to_string(I) + "]x[" + std::to_string(O) +
                              "," + std::to_string(I) + "]^T";
    Row(std::string(name) + " fwd", shape, flops, 0,
        [&] { LinearForward(y.data(), x.data(), w.data(), kN, I, O); });
    Row(std::string(name) + " bwd input", shape, flops, 0, [&] {
      LinearBackwardInput(dx.data(), dy.data(), w.data(), kN, I, O);
    });
    Row(std::string(name) + " bwd weight", shape, flops, 0, [&] {
      LinearBackwardWeight(dw.data(), dy.data(), x.data(), kN, I, O);
    });
    // Both products as the model runs them (at two threads, one per thread
    // at once): compare with the sum of the two rows above.
    Row(std::string(name) + " bwd both", shape, 2 * flops, 0, [&] {
      LinearBackward(dx.data(), /*accumulate_dinp=*/true, dw.data(), dy.data(), x.data(),
                     w.data(), kN, I, O);
    });
  };
  linear_rows("linear q_proj", kC, kH * kDk);
  linear_rows("linear kv_b", 64, kH * 64);
  linear_rows("linear gate_up", kC, 2 * kI);
  linear_rows("linear down", kI, kC);
  linear_rows("linear lm_head", kC, kV);

  // --- Attention ---
  {
    std::vector<float> q = Buffer(kN * kH * kDk, 0.4f);
    std::vector<float> k = Buffer(kN * kH * kDk, 0.5f);
    std::vector<float> v = Buffer(kN * kH * kDv, 0.6f);
    std::vector<float> out(kN * kH * kDv), lse(kB * kH * kT);
    std::vector<float> dout = Buffer(kN * kH * kDv, 0.7f);
    std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
    const float scale = 1.0f / std::sqrt(float(kDk));
    // Causal (query, key) pairs; forward: 2 products (q.k, p.v), backward:
    // 5 (s, dP, dV, dK, dQ) — the useful FLOPs, not the recomputed ones.
    const double pairs = double(kB) * kH * kT * (kT + 1) / 2;
    const std::string shape = "B8 T256 H8 Dk48 Dv32 causal";
    Row("attention fwd", shape, 2.0 * pairs * (kDk + kDv), 0, [&] {
      AttentionForward(out.data(), lse.data(), q.data(), k.data(), v.data(),
                       kB, kT, kH, kDk, kDv, scale);
    });
    Row("attention bwd", shape, 2.0 * pairs * (3 * kDk + 2 * kDv), 0, [&] {
      AttentionBackward(dq.data(), dk.data(), dv.data(), dout.data(),
                        q.data(), k.data(), v.data(), out.data(), lse.data(),
                        kB, kT, kH, kDk, kDv, scale);
    });
  }

  // --- RMSNorm, SwiGLU, RoPE ---
  {
    std::vector<float> x = Buffer(kN * kC, 0.8f), w = Buffer(kC, 0.9f);
    std::vector<float> y(kN * kC), rstd(kN), dy = Buffer(kN * kC, 1.0f);
    std::vector<float> dx(kN * kC, 0.0f), dw(kC, 0.0f);
    const double nc = double(kN) * kC * kF;
    Row("rms_norm fwd", "N2048 C256", 0, 2 * nc, [&] {
      RmsNormForward(y.data(), rstd.data(), x.data(), w.data(), kN, kC, 1e-6f);
    });
    Row("rms_norm bwd", "N2048 C256", 0, 4 * nc, [&] {
      RmsNormBackward(dx.data(), dw.data(), dy.data(), x.data(), w.data(),
                      rstd.data(), kN, kC);
    });
  }
  {
    std::vector<float> gu = Buffer(kN * 2 * kI, 1.1f), h(kN * kI);
    std::vector<float> dh = Buffer(kN * kI, 1.2f), dgu(kN * 2 * kI);
    const double ni = double(kN) * kI * kF;
    Row("swiglu fwd", "N2048 I688", 0, 3 * ni,
        [&] { SwiGluForward(h.data(), gu.data(), kN, kI); });
    Row("swiglu bwd", "N2048 I688", 0, 5 * ni,
        [&] { SwiGluBackward(dgu.data(), dh.data(), gu.data(), kN, kI); });
  }
  {
    RopeScaling s;
    s.yarn = true;
    s.factor = 40;
    s.mscale = s.mscale_all_dim = 0.707;
    std::vector<float> inv = RopeInvFreq(kRope, 10000.0, s);
    std::vector<float> cos(kT * kRope / 2), sin(kT * kRope / 2);
    RopeTables(cos.data(), sin.data(), inv, kT, RopeCosSinScale(s));
    // In place on the rope slice of q [B,T,H,48] (columns 32..47).
    std::vector<float> q = Buffer(kN * kH * kDk, 1.3f);
    const double bytes = 2.0 * kN * kH * kRope * kF;
    Row("rope fwd (q_pe, in place)", "B8 T256 H8 D16 of 48", 0, bytes, [&] {
      RopeForward(q.data() + kNope, kH * kDk, kDk, q.data() + kNope, kH * kDk,
                  kDk, cos.data(), sin.data(), kB, kT, kH, kRope, 0);
    });
    Row("rope bwd (q_pe, in place)", "B8 T256 H8 D16 of 48", 0, bytes, [&] {
      RopeBackward(q.data() + kNope, kH * kDk, kDk, q.data() + kNope,
                   kH * kDk, kDk, cos.data(), sin.data(), kB, kT, kH, kRope,
                   0);
    });
  }

  // --- Embedding, cross-entropy ---
  {
    std::vector<int32_t> tok(kN);
    for (int64_t n = 0; n < kN; ++n) tok[n] = int32_t((n * 7919) % kV);
    std::vector<float> table = Buffer(kV * kC, 1.4f), x(kN * kC);
    std::vector<float> dx = Buffer(kN * kC, 1.5f), dtable(kV * kC, 0.0f);
    const double bytes = 2.0 * kN * kC * kF;
    Row("embedding fwd", "N2048 V8192 C256", 0, bytes, [&] {
      EmbeddingForward(x.data(), tok.data(), table.data(), kN, kC);
    });
    Row("embedding bwd", "N2048 V8192 C256", 0, 1.5 * bytes, [&] {
      EmbeddingBackward(dtable.data(), tok.data(), dx.data(), kN, kC);
    });
  }
  {
    std::vector<float> logits = Buffer(kN * kV, 1.6f), dlogits(kN * kV);
    std::vector<float> losses(kN);
    std::vector<SoftmaxRowStats> stats(kN);
    std::vector<int32_t> targets(kN);
    for (int64_t n = 0; n < kN; ++n) targets[n] = (n % 5 == 0) ? -100 : int32_t(n % kV);
    const double nv = double(kN) * kV * kF;
    Row("cross_entropy fwd", "N2048 V8192", 0, nv, [&] {
      CrossEntropyForward(losses.data(), stats.data(), logits.data(),
                          targets.data(), kN, kV);
    });
    Row("cross_entropy bwd", "N2048 V8192", 0, 2 * nv, [&] {
      CrossEntropyBackward(dlogits.data(), logits.data(), stats.data(),
                           targets.data(), kN, kV, 1.0f / kN);
    });
    // In place over the previous call's gradient (the same work per row).
    dlogits = logits;
    Row("cross_entropy fwd+bwd", "N2048 V8192, one pass", 0, 2 * nv, [&] {
      CrossEntropyForwardBackward(losses.data(), dlogits.data(), targets.data(), kN, kV,
                                  1.0f / kN);
    });
  }

  // --- MoE gate ---
  {
    std::vector<float> logits = Buffer(kN * kE, 1.7f), probs(kN * kE);
    std::vector<float> dprobs = Buffer(kN * kE, 1.8f), dlogits(kN * kE);
    std::vector<int32_t> idx(kN * kK);
    std::vector<float> weight(kN * kK);
    const double ne = double(kN) * kE * kF;
    Row("router softmax fwd", "N2048 E64", 0, 2 * ne,
        [&] { SoftmaxForward(probs.data(), logits.data(), kN, kE); });
    Row("router softmax bwd", "N2048 E64", 0, 3 * ne, [&] {
      SoftmaxBackward(dlogits.data(), dprobs.data(), probs.data(), kN, kE);
    });
    Row("topk greedy", "N2048 E64 K6", 0, ne, [&] {
      TopKSelect(idx.data(), weight.data(), probs.data(), kN, kE, kK, false,
                 1, 1);
    });
    Row("topk group_limited", "N2048 E64 K6 G8 keep3", 0, ne, [&] {
      TopKSelect(idx.data(), weight.data(), probs.data(), kN, kE, kK, true,
                 kGroups, kTopkGroup);
    });
  }

  // --- Elementwise ---
  {
    const int64_t n = kN * kC;
    std::vector<float> a = Buffer(n, 1.9f), b = Buffer(n, 2.0f), c(n);
    Row("add", "N2048 C256", 0, 3.0 * n * kF,
        [&] { Add(c.data(), a.data(), b.data(), n); });
    double sink = 0;
    Row("sum_squares", "N2048 C256", 0, 1.0 * n * kF,
        [&] { sink += SumSquares(a.data(), n); });
    if (sink < 0) std::printf("%g\n", sink);  // keep the result alive
  }
}

}  // namespace
}  // namespace hs::kernels::cpu

int main(int argc, char** argv) {
  // OpenBLAS's own CPU detection picks 3x slower kernels on some VMs (see
  // haiscale/blas_env.h); the GEMM rows would time those, not the model's.
  hs::EnsureBlasCoreType(argv);
  hs::SetNumThreads(argc > 1 ? std::atoi(argv[1]) : 0);
  hs::kernels::cpu::Run();
  return 0;
}
