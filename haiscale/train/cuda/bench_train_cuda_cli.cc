// File: haiscale/train/cuda/bench_train_cuda_cli.cc
//
// `hai bench train-cuda`: the single-GPU training path (DeviceModel) on the
// config's model. Linked into //tools:hai_cuda only, so the
// default `hai` stays CUDA-free.
//
//   hai_cuda bench train-cuda --config configs/bench/small.pbtxt [--steps 10]
//       [--warmup 2] [--set key=value]... [--device 0] [--loss-csv FILE]
//       [--torch-tokens-per-s X] [--json]
//     Times full training steps (forward, backward, clip, AdamW) on random
//     tokens, as `hai bench train` does on the CPU, and prints tokens/s and
//     MFU against the GPU's bf16 dense tensor peak (the same FLOP count as
//     the CPU bench: DeviceModelPlan::TrainingFlopsPerToken, tested equal to
//     DeepseekV2Model::TrainingFlopsPerToken). With a PyTorch result
//     (--torch-tokens-per-s, e.g. from tools/peers on the same GPU) prints
//     the ratio.
//
//   hai_cuda bench train-cuda --config ... --compare-cpu 20 [--loss-csv FILE]
//       [--tolerance 2e-2] [--late-tolerance 5e-2] [--early-steps 10]
//     Initialises the CPU model (DeepseekV2Model, seed train.seed) and the
//     GPU model from the same parameters, trains both N steps on the same
//     batches (two fixed random batches, alternating, so the loss falls) with
//     the CPU trainer's step (grad-norm clip, AdamW, LR schedule), prints the
//     per-step losses and exits 1 when |gpu - cpu| / cpu exceeds the bf16
//     tolerance: --tolerance for the first --early-steps steps,
//     --late-tolerance after (bf16 rounding differences compound as the
//     trajectories drift apart). docs/cuda.md explains the numbers.
//
// Without a GPU both modes print "SKIPPED: no CUDA device (...)" and exit 0.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/cuda/device.h"
#include "haiscale/rng.h"
#include "haiscale/config/model_config_convert.h"
#include "haiscale/train/cuda/adamw_args.h"
#include "haiscale/train/trainer.h"
#include "models/cuda_model/deepseek_v2_cuda.h"
#include "optim/clip.h"

namespace hs::train {
namespace {

using models::DeepseekV2Config;
using models::DeepseekV2Model;
using models::ForwardResult;
using models::ParamArena;
using models::cuda_model::DeviceModel;

using Clock = std::chrono::steady_clock;

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "hai bench train-cuda: %s\n", std::string(s.message()).c_str());
  return 1;
}

// Batch: inputs and next-token targets [rows, T] from one random stream.
struct Batch {
  std::vector<int32_t> inputs, targets;
};

Batch RandomBatch(int64_t rows, int64_t T, int64_t vocab, uint64_t stream) {
  Philox rng(1234, stream);
  Batch b;
  b.inputs.resize(rows * T);
  b.targets.resize(rows * T);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = 0; t < T; ++t) {
      const uint64_t i = uint64_t(r * (T + 1) + t);
      b.inputs[r * T + t] = int32_t(rng.Uint64Below(i, uint64_t(vocab)));
      b.targets[r * T + t] = int32_t(rng.Uint64Below(i + 1, uint64_t(vocab)));
    }
  }
  return b;
}

struct StepResult {
  double loss = 0, aux = 0, norm = 0, seconds = 0;
};

// One GPU training step over a global batch of `rows` sequences in
// micro-batches of plan.B() (the CPU trainer's TrainStep, single process).
absl::StatusOr<StepResult> GpuStep(DeviceModel& m, const Batch& b, int64_t rows, int64_t step,
                                   double lr, const config::RunConfig& cfg) {
  const auto t0 = Clock::now();
  const int64_t B = m.plan().B(), T = m.plan().T();
  int64_t valid = 0;
  for (int32_t t : b.targets) valid += t >= 0;
  if (valid == 0) return absl::InvalidArgumentError("no targets");
  HS_RETURN_IF_ERROR(m.ZeroGrads());
  const float share = float(B) / float(rows);
  StepResult r;
  double ce = 0;
  for (int64_t first = 0; first < rows; first += B) {
    HS_ASSIGN_OR_RETURN(ForwardResult f,
                        m.Forward(b.inputs.data() + first * T, b.targets.data() + first * T));
    ce += f.ce_sum;
    r.aux += f.aux_loss * share;
    HS_RETURN_IF_ERROR(m.Backward(1.0f / float(valid), share));
  }
  HS_ASSIGN_OR_RETURN(r.norm, m.OptimizerStep(AdamWArgs(cfg.optimizer(), step, lr)));
  HS_RETURN_IF_ERROR(m.Synchronize());
  r.loss = ce / double(valid);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

// One CPU step, exactly as haiscale/train/trainer.cc's TrainStep.
absl::StatusOr<StepResult> CpuStep(DeepseekV2Model& m, optim::Optimizer& opt, const Batch& b,
                                   int64_t rows, int64_t B, int64_t T, int64_t step, double lr,
                                   double grad_clip) {
  ParamArena& arena = m.arena();
  int64_t valid = 0;
  for (int32_t t : b.targets) valid += t >= 0;
  arena.ZeroGrads();
  const float share = float(B) / float(rows);
  StepResult r;
  double ce = 0;
  for (int64_t first = 0; first < rows; first += B) {
    HS_ASSIGN_OR_RETURN(ForwardResult f, m.Forward(b.inputs.data() + first * T,
                                                   b.targets.data() + first * T, B, T));
    ce += f.ce_sum;
    r.aux += f.aux_loss * share;
    HS_RETURN_IF_ERROR(m.Backward(1.0f / float(valid), share));
  }
  r.norm = std::sqrt(optim::SumOfSquares(arena.grads(), arena.size()));
  if (!std::isfinite(r.norm)) return absl::InternalError("CPU gradient norm is not finite");
  const float scale = float(optim::ClipScale(r.norm, grad_clip));
  HS_RETURN_IF_ERROR(opt.Step(arena.params(), arena.grads(), 0, arena.size(), step, lr, scale));
  r.loss = ce / double(valid);
  return r;
}

// The bench's run: config, batch shape, the device model and schedule.
struct CudaBench {
  config::RunConfig cfg;
  DeepseekV2Config mc;
  int64_t rows = 0, B = 0, T = 0, warmup = 0, steps = 0, compare = 0;
  std::string device;  // "name (index, ...)" for the header
  std::ofstream csv;
};

void AddFlags(cli::ArgParser* args) {
  args->AddString("config", "configs/bench/small.pbtxt", "model + batch config");
  args->AddList("set", "override a config field");
  args->AddInt("steps", 10, "timed steps");
  args->AddInt("warmup", 2, "untimed steps first");
  args->AddInt("device", 0, "CUDA device index");
  args->AddString("loss-csv", "", "write step,loss (compare mode: step,loss,cpu_loss) to this file");
  args->AddInt("compare-cpu", 0, "train N steps on the GPU and the CPU side by side, check losses");
  args->AddDouble("tolerance", 2e-2, "compare: max relative loss difference, early steps");
  args->AddDouble("late-tolerance", 5e-2, "compare: max relative loss difference, later steps");
  args->AddInt("early-steps", 10, "compare: steps checked against --tolerance");
  args->AddDouble("torch-tokens-per-s", 0, "PyTorch peer's tokens/s on this GPU, for the ratio");
  args->AddBool("json", "print one JSON record instead of the table");
}

// Setup: the validated config with --set overrides and the batch shape.
absl::Status Setup(const cli::ArgParser& args, CudaBench* b) {
  HS_ASSIGN_OR_RETURN(b->cfg, config::LoadConfig(args.GetString("config")));
  for (const std::string& s : args.GetList("set")) {
    HS_RETURN_IF_ERROR(Annotate(config::ApplyOverride(&b->cfg, s), "--set ", s));
  }
  HS_RETURN_IF_ERROR(config::ValidateConfig(b->cfg));
  if (b->cfg.optimizer().type() != config::OptimizerConfig::ADAMW) {
    return absl::InvalidArgumentError("optimizer.type: the GPU path implements AdamW only");
  }
  b->compare = args.GetInt("compare-cpu");
  b->warmup = b->compare > 0 ? 0 : args.GetInt("warmup");
  b->steps = b->compare > 0 ? b->compare : args.GetInt("steps");
  b->cfg.mutable_train()->set_steps(b->warmup + b->steps);
  const config::TrainConfig& tc = b->cfg.train();
  b->rows = tc.global_batch_size();
  b->T = tc.seq_len();
  b->B = tc.micro_batch_size() > 0 ? std::min(tc.micro_batch_size(), b->rows) : b->rows;
  if (b->rows % b->B != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train.global_batch_size ", b->rows, " is not a multiple of micro_batch_size ", b->B));
  }
  b->mc = config::ToModelConfig(b->cfg);
  return absl::OkStatus();
}

// OpenLossCsv: --loss-csv's file with its header (only once a GPU runs).
absl::Status OpenLossCsv(const cli::ArgParser& args, CudaBench* b) {
  if (args.GetString("loss-csv").empty()) return absl::OkStatus();
  b->csv.open(args.GetString("loss-csv"));
  if (!b->csv) return absl::InternalError("cannot write " + args.GetString("loss-csv"));
  b->csv.precision(9);
  b->csv << (b->compare > 0 ? "step,loss,cpu_loss\n" : "step,loss\n");
  return absl::OkStatus();
}

// The run's first lines: model size, batch, device, memory plan.
void PrintHeader(const cli::ArgParser& args, const CudaBench& b, DeviceModel& m) {
  std::printf("hai bench train-cuda | %s | %.2fM params | batch %lld x %lld (micro %lld) | %s\n",
              args.GetString("config").c_str(), m.plan().param_floats() / 1e6, (long long)b.rows,
              (long long)b.T, (long long)b.B, b.device.c_str());
  std::printf("%s\n", m.plan().Summary().c_str());
}

// CompareWithCpu: N steps of the GPU and the CPU model side by side.
int CompareWithCpu(const cli::ArgParser& args, CudaBench& b, DeviceModel& m,
                   const optim::LrSchedule& schedule) {
  auto c0 = DeepseekV2Model::Create(b.mc, {.seed = b.cfg.train().seed(), .max_seq_len = b.T});
  if (!c0.ok()) return Fail(c0.status());
  std::unique_ptr<DeepseekV2Model> cpu = *std::move(c0);
  auto o = BuildOptimizer(b.cfg, cpu->arena(), 0, cpu->arena().size());
  if (!o.ok()) return Fail(o.status());
  std::unique_ptr<optim::Optimizer> cpu_opt = *std::move(o);
  if (absl::Status st = m.CopyParamsFromHost(cpu->arena().params()); !st.ok()) return Fail(st);
  PrintHeader(args, b, m);
  // Two fixed batches, alternating: both models can fit them, so the
  // curve falls and drift shows up over a handful of steps.
  const Batch batches[2] = {RandomBatch(b.rows, b.T, b.mc.vocab_size, 1),
                            RandomBatch(b.rows, b.T, b.mc.vocab_size, 2)};
  const int64_t early = args.GetInt("early-steps");
  double max_abs = 0, max_rel = 0;
  bool ok = true;
  std::printf("%5s | %10s | %10s | %10s | %9s | %9s | %s\n", "step", "cpu loss", "gpu loss",
              "rel diff", "cpu gnorm", "gpu gnorm", "tol");
  for (int64_t s = 0; s < b.steps; ++s) {
    const Batch& batch = batches[s % 2];
    const double lr = schedule.LrAt(s);
    auto g = GpuStep(m, batch, b.rows, s, lr, b.cfg);
    if (!g.ok()) return Fail(Annotate(g.status(), "GPU step ", s + 1));
    auto c = CpuStep(*cpu, *cpu_opt, batch, b.rows, b.B, b.T, s, lr,
                     b.cfg.optimizer().grad_clip());
    if (!c.ok()) return Fail(Annotate(c.status(), "CPU step ", s + 1));
    const double diff = std::fabs(g->loss - c->loss);
    const double rel = diff / std::max(std::fabs(c->loss), 1e-12);
    const double tol = s < early ? args.GetDouble("tolerance") : args.GetDouble("late-tolerance");
    max_abs = std::max(max_abs, diff);
    max_rel = std::max(max_rel, rel);
    const bool step_ok = rel <= tol;
    ok = ok && step_ok;
    std::printf("%5lld | %10.6f | %10.6f | %10.3e | %9.4f | %9.4f | %.0e %s\n",
                (long long)(s + 1), c->loss, g->loss, rel, c->norm, g->norm, tol,
                step_ok ? "OK" : "FAIL");
    if (b.csv.is_open()) b.csv << s + 1 << "," << g->loss << "," << c->loss << "\n";
  }
  std::printf("compare-cpu: %lld steps, max |loss diff| %.3e, max relative %.3e -> %s\n",
              (long long)b.steps, max_abs, max_rel, ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}

// Throughput: timed steps on random batches, tokens/s and MFU.
int Throughput(const cli::ArgParser& args, CudaBench& b, DeviceModel& m,
               const optim::LrSchedule& schedule, const hs::cuda::DeviceInfo& dev) {
  ParamArena host;
  if (absl::Status st = InitHostArena(m.plan(), b.cfg.train().seed(), &host); !st.ok()) {
    return Fail(st);
  }
  if (absl::Status st = m.CopyParamsFromHost(host.params()); !st.ok()) return Fail(st);
  PrintHeader(args, b, m);
  std::vector<double> seconds;
  for (int64_t s = 0; s < b.warmup + b.steps; ++s) {
    const Batch batch = RandomBatch(b.rows, b.T, b.mc.vocab_size, 100 + uint64_t(s));
    auto g = GpuStep(m, batch, b.rows, s, schedule.LrAt(s), b.cfg);
    if (!g.ok()) return Fail(Annotate(g.status(), "step ", s + 1));
    if (s >= b.warmup) seconds.push_back(g->seconds);
    if (b.csv.is_open()) b.csv << s + 1 << "," << g->loss << "\n";
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double tokens = double(b.rows) * b.T;
  const double tps = tokens / median;
  const double flops_tok = m.plan().TrainingFlopsPerToken();
  const double tflops = flops_tok * tps / 1e12;
  auto peaks = hs::cuda::GetDevicePeaks(int(args.GetInt("device")));
  if (!peaks.ok()) return Fail(peaks.status());
  const double peak = peaks->bf16_tflops;
  const double torch_tps = args.GetDouble("torch-tokens-per-s");
  if (args.GetBool("json")) {
    std::printf("{\"config\": \"%s\", \"device\": \"%s\", \"tokens_per_s\": %.1f, "
                "\"step_ms\": %.2f, \"tflops\": %.3f, \"mfu\": %.4f, \"peak_tflops\": %.1f, "
                "\"torch_tokens_per_s\": %.1f}\n",
                args.GetString("config").c_str(), dev.name.c_str(), tps, median * 1e3, tflops,
                tflops / peak, peak, torch_tps);
    return 0;
  }
  std::printf("peak %.1f TFLOP/s = %s\n", peak, peaks->how.c_str());
  std::printf("%-14s | %10s | %12s | %10s | %7s\n", "impl", "ms/step", "tokens/s", "TFLOP/s",
              "MFU");
  std::printf("%-14s | %10.2f | %12.1f | %10.3f | %6.2f%%\n", "haiscale-cuda", median * 1e3, tps,
              tflops, 100 * tflops / peak);
  if (torch_tps > 0) {
    const double tt = flops_tok * torch_tps / 1e12;
    std::printf("%-14s | %10.2f | %12.1f | %10.3f | %6.2f%%\n", "pytorch", tokens / torch_tps * 1e3,
                torch_tps, tt, 100 * tt / peak);
    std::printf("ratio haiscale-cuda/pytorch: %.2fx\n", tps / torch_tps);
  }
  return 0;
}

int RunBenchTrainCuda(int argc, char** argv) {
  cli::ArgParser args("hai bench train-cuda");
  AddFlags(&args);
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  CudaBench b;
  if (absl::Status st = Setup(args, &b); !st.ok()) return Fail(st);
  // No GPU: skip (gpu_check counts it as skipped), never fail.
  auto dev = hs::cuda::SelectDevice(int(args.GetInt("device")));
  if (!dev.ok()) {
    std::printf("SKIPPED: no CUDA device (%s)\n", std::string(dev.status().message()).c_str());
    return 0;
  }
  auto gpu = DeviceModel::Create(b.mc, b.B, b.T, int(args.GetInt("device")));
  if (!gpu.ok()) return Fail(gpu.status());
  auto schedule = BuildSchedule(b.cfg);
  if (!schedule.ok()) return Fail(schedule.status());
  b.device = dev->ToString();
  if (absl::Status st = OpenLossCsv(args, &b); !st.ok()) return Fail(st);
  return b.compare > 0 ? CompareWithCpu(args, b, **gpu, *schedule)
                       : Throughput(args, b, **gpu, *schedule, *dev);
}

HS_REGISTER_SUBCOMMAND("bench train-cuda",
                       "single-GPU training throughput/MFU; --compare-cpu N checks the loss curve",
                       RunBenchTrainCuda);

}  // namespace
}  // namespace hs::train
