// File: haiscale/train/bench_train_cli.cc
//
// `hai bench train --config configs/bench/small.pbtxt [--steps 10]
//                  [--warmup 2] [--threads N] [--compare-torch] [--json]`
// Times full training steps (forward, backward, clip, AdamW) of the
// config's model on random tokens and prints tokens/s, achieved GFLOP/s
// and MFU against the CPU's fp32 peak (haiscale/train/cpu_peak.h says how
// the peak is computed). With --compare-torch, runs the PyTorch eager peer
// (tools/peers/deepseek_v2_torch.py) on the same config and threads and
// prints the ratio.
//
// `hai bench train --device cuda[:N] ...` runs the same benchmark on GPU N
// (`hai bench train-cuda --device N ...`, in the CUDA build hai_cuda; the
// CPU-only hai says so). `--device cpu` is the default.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/rng.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/trainer.h"
#include "parallel/mpi_env.h"

namespace hs::train {
namespace {

namespace fs = std::filesystem;

// Random tokens, enough for every step, in a scratch file.
absl::StatusOr<std::string> WriteRandomTokens(int64_t n, int64_t vocab) {
  std::string path = (fs::temp_directory_path() /
                      absl::StrCat("hai_bench_tokens_", getpid(), ".bin")).string();
  std::vector<uint32_t> tok(n);
  Philox rng(1234, 0);
  for (int64_t i = 0; i < n; ++i) tok[i] = uint32_t(rng.Uint64Below(i, vocab));
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(tok.data()), n * 4);
  if (!out) return absl::InternalError("cannot write " + path);
  return path;
}

// Finds "key": number in a one-line JSON record.
bool JsonNumber(const std::string& json, const std::string& key, double* v) {
  auto pos = json.find("\"" + key + "\"");
  if (pos == std::string::npos) return false;
  pos = json.find(':', pos);
  if (pos == std::string::npos) return false;
  auto end = json.find_first_of(",}", pos);
  return absl::SimpleAtod(json.substr(pos + 1, end - pos - 1), v);
}

// DeviceArg(argc, argv): the value of --device (or --device=...), "" if absent.
std::string DeviceArg(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--device" && i + 1 < argc) return argv[i + 1];
    if (a.rfind("--device=", 0) == 0) return a.substr(9);
  }
  return "";
}

// RunOnCuda(argc, argv, device): re-dispatches to `bench train-cuda` with
// --device N (the GPU index) in place of --device cuda[:N].
int RunOnCuda(int argc, char** argv, const std::string& device) {
  std::string index = "0";
  if (device.size() > 5) {
    int n = 0;
    if (device[4] != ':' || !absl::SimpleAtoi(device.substr(5), &n) || n < 0) {
      std::fprintf(stderr, "hai bench train: --device %s: expected cpu, cuda or cuda:N\n",
                   device.c_str());
      return 2;
    }
    index = std::to_string(n);
  }
  for (const cli::Subcommand& sc : cli::Subcommands()) {
    if (sc.name != "bench train-cuda") continue;
    std::vector<std::string> args = {"bench train-cuda"};
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--device") {
        ++i;
        continue;
      }
      if (a.rfind("--device=", 0) == 0) continue;
      args.push_back(a);
    }
    args.push_back("--device");
    args.push_back(index);
    std::vector<char*> ptrs;
    for (std::string& a : args) ptrs.push_back(a.data());
    ptrs.push_back(nullptr);
    return sc.fn(int(args.size()), ptrs.data());
  }
  std::fprintf(stderr,
               "hai bench train: --device %s: this hai has no CUDA backend; use hai_cuda "
               "(bazel build --config=cuda //tools:hai_cuda)\n",
               device.c_str());
  return 2;
}

int RunBenchTrain(int argc, char** argv) {
  const std::string device = DeviceArg(argc, argv);
  if (device.rfind("cuda", 0) == 0) return RunOnCuda(argc, argv, device);
  cli::ArgParser args("hai bench train");
  args.AddString("device", "cpu", "cpu, or cuda[:N] (hai_cuda: the GPU benchmark)");
  args.AddString("config", "configs/bench/small.pbtxt", "model + batch config");
  args.AddList("set", "override a config field");
  args.AddInt("steps", 10, "timed steps");
  args.AddInt("warmup", 2, "untimed steps first");
  args.AddInt("threads", 0, "CPU threads (0 = all cores)");
  args.AddBool("compare-torch", "also run the PyTorch eager peer and print the ratio");
  args.AddString("python", "/usr/bin/python3", "python with torch, for --compare-torch");
  args.AddString("peer-script", "tools/peers/deepseek_v2_torch.py", "the PyTorch peer");
  args.AddBool("json", "print one JSON record instead of the table");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  if (args.GetString("device") != "cpu") {
    std::fprintf(stderr, "hai bench train: --device %s: expected cpu, cuda or cuda:N\n",
                 args.GetString("device").c_str());
    return 2;
  }
  auto cfg = config::LoadConfig(args.GetString("config"));
  if (!cfg.ok()) {
    std::fprintf(stderr, "hai bench train: %s\n", std::string(cfg.status().message()).c_str());
    return 2;
  }
  for (const std::string& s : args.GetList("set")) {
    absl::Status st = config::ApplyOverride(&*cfg, s);
    if (!st.ok()) {
      std::fprintf(stderr, "hai bench train: --set %s: %s\n", s.c_str(), std::string(st.message()).c_str());
      return 2;
    }
  }
  const int64_t warmup = args.GetInt("warmup"), steps = args.GetInt("steps");
  const config::TrainConfig& tc = cfg->train();
  cfg->mutable_train()->set_steps(warmup + steps);
  cfg->mutable_train()->set_threads(args.GetInt("threads"));
  const int64_t need = (warmup + steps) * tc.global_batch_size() * tc.seq_len() + 1;
  const bool multi_rank = parallel::MpiEnv::active() && parallel::MpiEnv::size() > 1;
  const int rank = parallel::MpiEnv::rank();
  // Every rank writes its own copy of the (identical) random tokens.
  auto path = WriteRandomTokens(need, cfg->model().vocab_size());
  if (!path.ok()) {
    std::fprintf(stderr, "hai bench train: %s\n", std::string(path.status().message()).c_str());
    return 1;
  }
  cfg->mutable_data()->set_train_path(*path);
  cfg->mutable_data()->set_shuffle(false);
  auto trainer = Trainer::Create(
      *cfg, {.write_outputs = false, .quiet = true, .distributed = multi_rank});
  if (!trainer.ok()) {
    std::fprintf(stderr, "hai bench train: %s\n", std::string(trainer.status().message()).c_str());
    fs::remove(*path);
    return 2;
  }
  std::vector<double> seconds;
  double overlap = 0, exposed = 0;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    auto m = (*trainer)->TrainStep(s);
    if (!m.ok()) {
      fs::remove(*path);
      if (multi_rank) parallel::AbortJob(m.status(), 1);
      std::fprintf(stderr, "hai bench train: %s\n", std::string(m.status().message()).c_str());
      return 1;
    }
    if (s >= warmup) {
      seconds.push_back(m->step_seconds);
      overlap += m->overlap / steps;
      exposed += m->exposed_comm_seconds / steps;
    }
  }
  fs::remove(*path);
  if (rank != 0) return 0;
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double tokens = double(tc.global_batch_size()) * tc.seq_len();
  const double tps = tokens / median;
  const double flops_tok = (*trainer)->model().TrainingFlopsPerToken(tc.seq_len());
  const double gflops = flops_tok * tps / 1e9;
  const int dp = multi_rank ? parallel::MpiEnv::size() : 1;
  CpuPeak peak = (*trainer)->peak();
  peak.gflops *= dp;  // all ranks' cores
  const int threads = NumThreads();

  double torch_tps = 0;
  std::string torch_note;
  if (args.GetBool("compare-torch")) {
    std::string cmd = absl::StrCat(args.GetString("python"), " ", args.GetString("peer-script"),
                                   " --config ", args.GetString("config"), " --threads ", threads,
                                   " --steps ", steps, " --warmup ", warmup, " --json");
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    if (p != nullptr) {
      char buf[4096];
      while (fgets(buf, sizeof(buf), p)) out += buf;
      int rc = pclose(p);
      if (rc != 0 || !JsonNumber(out, "tokens_per_s", &torch_tps)) {
        torch_note = absl::StrCat("PyTorch peer failed (exit ", rc, "): ", cmd);
        torch_tps = 0;
      }
    }
  }

  if (args.GetBool("json")) {
    std::printf("{\"config\": \"%s\", \"dp\": %d, \"threads\": %d, \"tokens_per_s\": %.1f, "
                "\"step_ms\": %.2f, \"gflops\": %.2f, \"mfu\": %.4f, \"peak_gflops\": %.1f, "
                "\"overlap\": %.3f, \"exposed_comm_ms\": %.2f, \"torch_tokens_per_s\": %.1f}\n",
                args.GetString("config").c_str(), dp, threads, tps, median * 1e3, gflops,
                gflops / peak.gflops, peak.gflops, overlap, exposed * 1e3, torch_tps);
    return 0;
  }
  std::printf("hai bench train | %s | %.2fM params | batch %lld x %lld | %d rank(s) x %d threads\n",
              args.GetString("config").c_str(), (*trainer)->model().arena().size() / 1e6,
              (long long)tc.global_batch_size(), (long long)tc.seq_len(), dp, threads);
  if (dp > 1) {
    std::printf("data parallel: %s, overlap %.0f%%, exposed communication %.2f ms/step\n",
                cfg->parallel().allreduce() == config::ParallelConfig::MPI ? "MPI_Allreduce"
                                                                           : "HFReduce",
                100 * overlap, exposed * 1e3);
  }
  std::printf("peak %.1f GFLOP/s = %s\n", peak.gflops, peak.how.c_str());
  std::printf("%-10s | %10s | %12s | %10s | %7s\n", "impl", "ms/step", "tokens/s", "GFLOP/s", "MFU");
  std::printf("%-10s | %10.1f | %12.1f | %10.2f | %6.2f%%\n", "haiscale", median * 1e3, tps, gflops,
              100 * gflops / peak.gflops);
  if (torch_tps > 0) {
    double tg = flops_tok * torch_tps / 1e9;
    std::printf("%-10s | %10.1f | %12.1f | %10.2f | %6.2f%%\n", "pytorch", tokens / torch_tps * 1e3,
                torch_tps, tg, 100 * tg / peak.gflops);
    std::printf("ratio haiscale/pytorch: %.2fx\n", tps / torch_tps);
  } else if (!torch_note.empty()) {
    std::printf("%s\n", torch_note.c_str());
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("bench train", "training-step throughput, MFU, ratio vs PyTorch", RunBenchTrain);

}  // namespace
}  // namespace hs::train
