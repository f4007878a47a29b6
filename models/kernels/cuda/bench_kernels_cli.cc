// File: models/kernels/cuda/bench_kernels_cli.cc
//
// `hai bench kernels`: times every CUDA kernel of models/kernels/cuda at
// DeepSeek-V2(-Lite) shapes on device 0 and prints, after a hardware line,
//   kernel | shape | ms | GB/s | TFLOP/s | % of peak
// (the llm.c dev/cuda `benchmark_kernel` shape, HaiScale's ops columns).
// Without a GPU it prints "SKIPPED: no CUDA device (...)" and exits 0.
//
// Peaks come from the device's properties (cudaDeviceGetAttribute):
//   memory GB/s  = 2 (DDR) * memory clock (kHz) * 1e3 * bus width (bits) / 8
//   bf16 TFLOP/s = SMs * max SM clock (kHz) * 1e3 * dense bf16 FLOP/clk/SM,
//                  FLOP/clk/SM by compute capability: 8.0 -> 2048 (A100),
//                  other 8.x -> 1024, 9.0 -> 4096 (H100), 10.x -> 8192.
// The clock is the maximum boost clock, so the FLOP peak is an upper bound
// (H100 SXM: 1070 vs NVIDIA's 989 TFLOP/s quoted at 1.83 GHz).
// "% of peak" is against the tensor-core peak for the GEMMs and attention
// (marked "tc") and against the memory bandwidth for everything else
// ("bw"). Bytes are the minimum traffic (each input read once, each output
// written once); attention FLOPs are the causal model FLOPs (forward
// 2*B*H*T^2/2*(Dk+Dv), backward 2.5x that, recomputation not counted).
//
// Usage:
//   hai bench kernels                      # tokens 4096, -Lite widths
//   hai bench kernels --tokens 8192 --hidden 5120 --heads 128 --experts 160
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/cuda/device.h"
#include "haiscale/cuda/error.h"
#include "haiscale/status.h"
#include "models/kernels/cuda/adamw.h"
#include "models/kernels/cuda/attention.h"
#include "models/kernels/cuda/cross_entropy.h"
#include "models/kernels/cuda/embedding.h"
#include "models/kernels/cuda/gemm.h"
#include "models/kernels/cuda/moe.h"
#include "models/kernels/cuda/rms_norm.h"
#include "models/kernels/cuda/rope.h"
#include "models/kernels/cuda/swiglu.h"

namespace hs::kernels::cuda {
namespace {

// Buf: device memory, freed at scope exit; filled with a byte pattern or
// uploaded from the host.
class Buf {
 public:
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() {
    if (p_ != nullptr) cudaFree(p_);
  }
  absl::Status Alloc(int64_t bytes, int pattern = 0x3c) {  // bf16 0x3c3c ~ 0.0115
    HS_CUDA_RETURN_IF_ERROR(cudaMalloc(&p_, size_t(std::max<int64_t>(bytes, 16))));
    HS_CUDA_RETURN_IF_ERROR(cudaMemset(p_, pattern, size_t(std::max<int64_t>(bytes, 16))));
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Upload(const std::vector<T>& host) {
    HS_CUDA_RETURN_IF_ERROR(cudaMalloc(&p_, std::max<size_t>(host.size() * sizeof(T), 16)));
    HS_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
    return absl::OkStatus();
  }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }

 private:
  void* p_ = nullptr;
};

struct Bench {
  hs::cuda::DevicePeaks peaks;
  cudaStream_t stream = nullptr;
  int warmup = 3, iters = 20;

  // Row: times fn (a launch sequence returning cudaError_t) and prints it.
  absl::Status Row(const std::string& kernel, const std::string& shape, double bytes,
                   double flops, const std::function<cudaError_t()>& fn) {
    for (int i = 0; i < warmup; ++i) HS_CUDA_RETURN_IF_ERROR(fn());
    cudaEvent_t t0, t1;
    HS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&t0));
    HS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&t1));
    HS_CUDA_RETURN_IF_ERROR(cudaEventRecord(t0, stream));
    for (int i = 0; i < iters; ++i) HS_CUDA_RETURN_IF_ERROR(fn());
    HS_CUDA_RETURN_IF_ERROR(cudaEventRecord(t1, stream));
    HS_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(t1));
    float total_ms = 0;
    HS_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&total_ms, t0, t1));
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    const double ms = total_ms / iters;
    const double gbps = bytes / (ms * 1e-3) / 1e9;
    const double tflops = flops / (ms * 1e-3) / 1e12;
    const bool compute = flops > 0 && tflops / peaks.bf16_tflops > gbps / peaks.hbm_gbps;
    const double pct = compute ? 100.0 * tflops / peaks.bf16_tflops : 100.0 * gbps / peaks.hbm_gbps;
    std::printf("%-24s | %-30s | %9.4f | %8.1f | %8.2f | %5.1f%% %s\n", kernel.c_str(),
                shape.c_str(), ms, gbps, tflops, pct, compute ? "tc" : "bw");
    return absl::OkStatus();
  }
};

// ToCuda: a GEMM's Status as the cudaError_t Bench::Row expects (the
// message goes to stderr).
cudaError_t ToCuda(const absl::Status& s) {
  if (s.ok()) return cudaSuccess;
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  return cudaErrorUnknown;
}

absl::Status RunAll(const cli::ArgParser& args, Bench& b) {
  const int64_t N = args.GetInt("tokens"), C = args.GetInt("hidden");
  const int64_t H = args.GetInt("heads"), E = args.GetInt("experts");
  const int64_t K = args.GetInt("topk"), I = args.GetInt("expert-width");
  const int64_t V = args.GetInt("vocab"), T = std::min<int64_t>(N, args.GetInt("seq"));
  const int64_t Bsz = std::max<int64_t>(1, N / T);
  const int64_t Dk = 192, Dv = 128, Dr = 64;
  const std::string nc = absl::StrCat("N=", N, " C=", C);
  std::mt19937_64 gen(1);

  {  // RMSNorm + residual
    Buf res, x, out, w, rstd, dinp, dw, scratch;
    HS_RETURN_IF_ERROR(res.Alloc(N * C * 2));
    HS_RETURN_IF_ERROR(x.Alloc(N * C * 2));
    HS_RETURN_IF_ERROR(out.Alloc(N * C * 2));
    HS_RETURN_IF_ERROR(w.Alloc(C * 2));
    HS_RETURN_IF_ERROR(rstd.Alloc(N * 4));
    HS_RETURN_IF_ERROR(dinp.Alloc(N * C * 2, 0));
    HS_RETURN_IF_ERROR(dw.Alloc(C * 4, 0));
    HS_RETURN_IF_ERROR(scratch.Alloc(RmsNormBackwardScratchFloats(N, C) * 4));
    HS_RETURN_IF_ERROR(b.Row("rms_norm fwd (+res)", nc, 4.0 * N * C * 2, 0, [&] {
      return RmsNormForward(res.as<bf16_bits>(), out.as<bf16_bits>(), rstd.as<float>(),
                            res.as<bf16_bits>(), x.as<bf16_bits>(), w.as<bf16_bits>(), N, C,
                            1e-6f, b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("rms_norm bwd", nc, 4.0 * N * C * 2, 0, [&] {
      return RmsNormBackward(dinp.as<bf16_bits>(), dw.as<float>(), scratch.as<float>(),
                             out.as<bf16_bits>(), res.as<bf16_bits>(), w.as<bf16_bits>(),
                             rstd.as<float>(), N, C, b.stream);
    }));
  }
  {  // SwiGLU over the routed rows
    const int64_t R = N * K;
    Buf gu, out, dgu;
    HS_RETURN_IF_ERROR(gu.Alloc(R * 2 * I * 2));
    HS_RETURN_IF_ERROR(out.Alloc(R * I * 2));
    HS_RETURN_IF_ERROR(dgu.Alloc(R * 2 * I * 2));
    const std::string sh = absl::StrCat("rows=", R, " I=", I);
    HS_RETURN_IF_ERROR(b.Row("swiglu fwd", sh, 6.0 * R * I, 0, [&] {
      return SwiGluForward(out.as<bf16_bits>(), gu.as<bf16_bits>(), R, I, b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("swiglu bwd", sh, 10.0 * R * I, 0, [&] {
      return SwiGluBackward(dgu.as<bf16_bits>(), out.as<bf16_bits>(), gu.as<bf16_bits>(), R,
                            I, b.stream);
    }));
  }
  {  // Embedding
    std::vector<int32_t> tok(N);
    std::uniform_int_distribution<int32_t> d(0, int32_t(V - 1));
    for (int32_t& t : tok) t = d(gen);
    Buf tokens, table, out, dtable;
    HS_RETURN_IF_ERROR(tokens.Upload(tok));
    HS_RETURN_IF_ERROR(table.Alloc(V * C * 2));
    HS_RETURN_IF_ERROR(out.Alloc(N * C * 2));
    HS_RETURN_IF_ERROR(dtable.Alloc(V * C * 4, 0));
    const std::string sh = absl::StrCat(nc, " V=", V);
    HS_RETURN_IF_ERROR(b.Row("embedding fwd", sh, 4.0 * N * C, 0, [&] {
      return EmbeddingForward(out.as<bf16_bits>(), tokens.as<int32_t>(), table.as<bf16_bits>(),
                              N, C, V, b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("embedding bwd", sh, 2.0 * N * C + 8.0 * N * C, 0, [&] {
      return EmbeddingBackward(dtable.as<float>(), tokens.as<int32_t>(), out.as<bf16_bits>(),
                               N, C, V, b.stream);
    }));
  }
  {  // RoPE on the rope slice of q (in place)
    std::vector<float> cs(T * Dr / 2, 0.5f);
    Buf q, cos, sin;
    HS_RETURN_IF_ERROR(q.Alloc(N * H * Dk * 2));
    HS_RETURN_IF_ERROR(cos.Upload(cs));
    HS_RETURN_IF_ERROR(sin.Upload(cs));
    bf16_bits* qr = q.as<bf16_bits>() + (Dk - Dr);
    HS_RETURN_IF_ERROR(b.Row("rope fwd (q, in place)",
                             absl::StrCat("B=", Bsz, " T=", T, " H=", H, " D=", Dr),
                             4.0 * N * H * Dr, 0, [&] {
                               return RopeForward(qr, H * Dk, Dk, qr, H * Dk, Dk, cos.as<float>(),
                                                  sin.as<float>(), Bsz, T, H, Dr, 0, b.stream);
                             }));
  }
  {  // Cross-entropy (the logits may be large: at most 2048 rows)
    const int64_t n = std::min<int64_t>(N, 2048);
    std::vector<int32_t> tgt(n);
    std::uniform_int_distribution<int32_t> d(0, int32_t(V - 1));
    for (int32_t& t : tgt) t = d(gen);
    Buf logits, dlogits, targets, loss, lse;
    HS_RETURN_IF_ERROR(logits.Alloc(n * V * 2));
    HS_RETURN_IF_ERROR(dlogits.Alloc(n * V * 2));
    HS_RETURN_IF_ERROR(targets.Upload(tgt));
    HS_RETURN_IF_ERROR(loss.Alloc(n * 4));
    HS_RETURN_IF_ERROR(lse.Alloc(n * 4));
    const std::string sh = absl::StrCat("N=", n, " V=", V);
    HS_RETURN_IF_ERROR(b.Row("cross_entropy fwd", sh, 2.0 * n * V, 0, [&] {
      return CrossEntropyForward(loss.as<float>(), lse.as<float>(), logits.as<bf16_bits>(),
                                 targets.as<int32_t>(), nullptr, n, V, b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("cross_entropy bwd", sh, 4.0 * n * V, 0, [&] {
      // Not in place, so every iteration sees the same logits.
      return CrossEntropyBackward(dlogits.as<bf16_bits>(), logits.as<bf16_bits>(),
                                  lse.as<float>(), targets.as<int32_t>(), n, V,
                                  1.0f / float(n), b.stream);
    }));
  }
  {  // AdamW over 64M parameters
    const int64_t n = int64_t(64) << 20;
    Buf p, pb, g, m, v;
    HS_RETURN_IF_ERROR(p.Alloc(n * 4, 0));
    HS_RETURN_IF_ERROR(pb.Alloc(n * 2, 0));
    HS_RETURN_IF_ERROR(g.Alloc(n * 4, 0));
    HS_RETURN_IF_ERROR(m.Alloc(n * 4, 0));
    HS_RETURN_IF_ERROR(v.Alloc(n * 4, 0));
    const AdamWScalars s = MakeAdamWScalars(1e-4, 0.1, 0.9, 0.95, 1e-8, 1);
    HS_RETURN_IF_ERROR(b.Row("adamw (+bf16 copy)", absl::StrCat("n=", n), 30.0 * n, 0, [&] {
      return AdamWStep(p.as<float>(), pb.as<bf16_bits>(), g.as<float>(), m.as<float>(),
                       v.as<float>(), n, s, nullptr, b.stream);
    }));
  }
  {  // MLA attention
    Buf q, k, v, o, lse, dout, dq, dk, dv, dsum;
    const int64_t nqk = Bsz * T * H * Dk, nv = Bsz * T * H * Dv;
    HS_RETURN_IF_ERROR(q.Alloc(nqk * 2));
    HS_RETURN_IF_ERROR(k.Alloc(nqk * 2));
    HS_RETURN_IF_ERROR(v.Alloc(nv * 2));
    HS_RETURN_IF_ERROR(o.Alloc(nv * 2));
    HS_RETURN_IF_ERROR(lse.Alloc(Bsz * H * T * 4));
    HS_RETURN_IF_ERROR(dout.Alloc(nv * 2));
    HS_RETURN_IF_ERROR(dq.Alloc(nqk * 2));
    HS_RETURN_IF_ERROR(dk.Alloc(nqk * 2));
    HS_RETURN_IF_ERROR(dv.Alloc(nv * 2));
    HS_RETURN_IF_ERROR(dsum.Alloc(Bsz * H * T * 4));
    const float scale = 1.0f / std::sqrt(float(Dk));
    const double fwd = 2.0 * Bsz * H * (double(T) * T / 2) * (Dk + Dv);
    const std::string sh = absl::StrCat("B=", Bsz, " T=", T, " H=", H, " ", Dk, "/", Dv);
    HS_RETURN_IF_ERROR(b.Row("attention fwd (causal)", sh, 2.0 * (2 * nqk + 2 * nv), fwd, [&] {
      return AttentionForward(o.as<bf16_bits>(), lse.as<float>(), q.as<bf16_bits>(),
                              k.as<bf16_bits>(), v.as<bf16_bits>(), Bsz, T, H, Dk, Dv, scale,
                              b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("attention bwd (causal)", sh, 2.0 * (4 * nqk + 4 * nv), 2.5 * fwd,
                             [&] {
                               return AttentionBackward(
                                   dq.as<bf16_bits>(), dk.as<bf16_bits>(), dv.as<bf16_bits>(),
                                   dsum.as<float>(), dout.as<bf16_bits>(), q.as<bf16_bits>(),
                                   k.as<bf16_bits>(), v.as<bf16_bits>(), o.as<bf16_bits>(),
                                   lse.as<float>(), Bsz, T, H, Dk, Dv, scale, b.stream);
                             }));
  }
  {  // MoE routing, permute, combine, and the grouped expert GEMM
    std::vector<float> lg(N * E);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float& x : lg) x = nd(gen);
    Buf logits, probs, idx, w, x, ein, off, row, scratch, y, dy, deo, dw;
    HS_RETURN_IF_ERROR(logits.Upload(lg));
    HS_RETURN_IF_ERROR(probs.Alloc(N * E * 4));
    HS_RETURN_IF_ERROR(idx.Alloc(N * K * 4));
    HS_RETURN_IF_ERROR(w.Alloc(N * K * 4));
    HS_RETURN_IF_ERROR(x.Alloc(N * C * 2));
    HS_RETURN_IF_ERROR(ein.Alloc(N * K * C * 2));
    HS_RETURN_IF_ERROR(off.Alloc((E + 1) * 8));
    HS_RETURN_IF_ERROR(row.Alloc(N * K * 4));
    HS_RETURN_IF_ERROR(scratch.Alloc(MoePermuteScratchInts(N * K, E) * 4));
    HS_RETURN_IF_ERROR(y.Alloc(N * C * 2));
    HS_RETURN_IF_ERROR(dy.Alloc(N * C * 2));
    HS_RETURN_IF_ERROR(deo.Alloc(N * K * C * 2));
    HS_RETURN_IF_ERROR(dw.Alloc(N * K * 4));
    const std::string ne = absl::StrCat("N=", N, " E=", E, " K=", K);
    HS_RETURN_IF_ERROR(b.Row("moe router softmax", ne, 8.0 * N * E, 0, [&] {
      return MoeRouterSoftmax(probs.as<float>(), logits.as<float>(), N, E, b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("moe top-k (greedy)", ne, 4.0 * N * E + 8.0 * N * K, 0, [&] {
      return MoeTopK(idx.as<int32_t>(), w.as<float>(), probs.as<float>(), N, E, K, false, 0, 0,
                     b.stream);
    }));
    const std::string nkc = absl::StrCat(ne, " C=", C);
    HS_RETURN_IF_ERROR(b.Row("moe permute", nkc, 4.0 * N * K * C, 0, [&] {
      return MoePermute(ein.as<bf16_bits>(), off.as<int64_t>(), row.as<int32_t>(),
                        scratch.as<int32_t>(), nullptr, x.as<bf16_bits>(), idx.as<int32_t>(), N,
                        K, C, E, b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("moe combine", nkc, 2.0 * N * K * C + 2.0 * N * C, 0, [&] {
      return MoeCombine(y.as<bf16_bits>(), ein.as<bf16_bits>(), w.as<float>(), row.as<int32_t>(),
                        N, K, C, b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("moe combine bwd", nkc, 4.0 * N * K * C + 2.0 * N * C, 0, [&] {
      return MoeCombineBackward(deo.as<bf16_bits>(), dw.as<float>(), dy.as<bf16_bits>(),
                                ein.as<bf16_bits>(), w.as<float>(), row.as<int32_t>(), N, K, C,
                                b.stream);
    }));
    HS_RETURN_IF_ERROR(b.Row("moe permute bwd", nkc, 2.0 * N * K * C + 4.0 * N * C, 0, [&] {
      return MoePermuteBackward(y.as<bf16_bits>(), deo.as<bf16_bits>(), row.as<int32_t>(), N, K,
                                C, b.stream);
    }));

    // GEMMs: one dense Linear (o_proj-like, C x C) and the grouped expert
    // gate/up projection over the routed rows.
    HS_ASSIGN_OR_RETURN(std::unique_ptr<GemmContext> gemm, GemmContext::Create());
    std::vector<int64_t> offsets(E + 1);
    HS_CUDA_RETURN_IF_ERROR(cudaMemcpy(offsets.data(), off.as<int64_t>(), (E + 1) * 8,
                                       cudaMemcpyDeviceToHost));
    Buf wd, outd, wexp, gu;
    HS_RETURN_IF_ERROR(wd.Alloc(C * C * 2));
    HS_RETURN_IF_ERROR(outd.Alloc(N * C * 2));
    HS_RETURN_IF_ERROR(wexp.Alloc(E * 2 * I * C * 2));
    HS_RETURN_IF_ERROR(gu.Alloc(N * K * 2 * I * 2));
    std::vector<const bf16_bits*> wptr(E);
    for (int64_t e = 0; e < E; ++e) wptr[e] = wexp.as<bf16_bits>() + e * 2 * I * C;
    HS_RETURN_IF_ERROR(b.Row("gemm linear fwd", absl::StrCat(nc, " O=", C),
                             2.0 * (N * C + C * C + N * C), 2.0 * N * C * C, [&] {
                               return ToCuda(LinearForward(*gemm, outd.as<bf16_bits>(),
                                                           x.as<bf16_bits>(), wd.as<bf16_bits>(),
                                                           N, C, C, b.stream));
                             }));
    const int64_t R = offsets[E];
    HS_RETURN_IF_ERROR(b.Row("gemm grouped experts fwd",
                             absl::StrCat("R=", R, " E=", E, " ", C, "->", 2 * I),
                             2.0 * (R * C + E * 2 * I * C + R * 2 * I), 2.0 * R * C * 2 * I, [&] {
                               return ToCuda(GroupedLinearForward(
                                   *gemm, gu.as<bf16_bits>(), ein.as<bf16_bits>(), wptr.data(),
                                   offsets.data(), E, C, 2 * I, b.stream));
                             }));
  }
  return absl::OkStatus();
}

int RunBenchKernels(int argc, char** argv) {
  cli::ArgParser args("hai bench kernels");
  args.AddInt("tokens", 4096, "tokens per step N (B*T)");
  args.AddInt("seq", 4096, "attention sequence length T (B = tokens / seq)");
  args.AddInt("hidden", 2048, "hidden size C (DeepSeek-V2-Lite 2048, V2 5120)");
  args.AddInt("heads", 16, "attention heads H (Lite 16, V2 128)");
  args.AddInt("experts", 64, "routed experts E (Lite 64, V2 160)");
  args.AddInt("topk", 6, "experts per token K");
  args.AddInt("expert-width", 1408, "expert intermediate size I");
  args.AddInt("vocab", 102400, "vocabulary V");
  args.AddInt("iters", 20, "timed iterations per kernel (after 3 warm-up runs)");
  if (absl::Status s = args.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\n%s", s.ToString().c_str(), args.Usage().c_str());
    return 2;
  }
  if (args.help_requested()) {
    std::printf("%s", args.Usage().c_str());
    return 0;
  }
  absl::StatusOr<hs::cuda::DeviceInfo> dev = hs::cuda::SelectDevice(0);
  if (!dev.ok()) {
    std::printf("hai bench kernels: SKIPPED: no CUDA device (%s)\n",
                std::string(dev.status().message()).c_str());
    return 0;
  }
  Bench b;
  b.iters = int(std::max<int64_t>(1, args.GetInt("iters")));
  absl::StatusOr<hs::cuda::DevicePeaks> peaks = hs::cuda::GetDevicePeaks(dev->index);
  absl::Status s = peaks.status();
  if (s.ok()) b.peaks = *peaks;
  if (s.ok()) s = HS_CUDA_STATUS(cudaStreamCreateWithFlags(&b.stream, cudaStreamNonBlocking));
  if (!s.ok()) {
    std::fprintf(stderr, "hai bench kernels: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("# hai bench kernels on %s\n", dev->ToString().c_str());
  std::printf("# peak: %.0f GB/s memory, %.0f TFLOP/s bf16 dense (%d FLOP/clk/SM); "
              "build: nvcc sm_80+sm_90, %d timed iterations\n",
              b.peaks.hbm_gbps, b.peaks.bf16_tflops, b.peaks.bf16_flop_per_clk_sm, b.iters);
  std::printf("%-24s | %-30s | %9s | %8s | %8s | %s\n", "kernel", "shape", "ms", "GB/s",
              "TFLOP/s", "% of peak");
  s = RunAll(args, b);
  cudaStreamDestroy(b.stream);
  if (!s.ok()) {
    std::fprintf(stderr, "hai bench kernels: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace hs::kernels::cuda

HS_REGISTER_SUBCOMMAND("bench kernels",
                       "time the CUDA kernels (GB/s, TFLOP/s, % of the GPU's peak)",
                       hs::kernels::cuda::RunBenchKernels);
