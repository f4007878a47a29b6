// File: haiscale/train/bench_train_cli.cc
//
// `hai bench train --config configs/bench/small.pbtxt [--steps 10]
//                  [--warmup 2] [--rounds 1] [--threads N] [--compare-torch]
//                  [--json] [--profile] [--comm-trace]`
// Times full training steps (forward, backward, clip, AdamW) of the
// config's model on random tokens and prints tokens/s, achieved GFLOP/s
// and MFU against the CPU's fp32 peak (haiscale/train/cpu_peak.h says how
// the peak is computed). With --compare-torch, runs the PyTorch eager peer
// (tools/peers/deepseek_v2_torch.py) on the same config and threads and
// prints the ratio. With --rounds R, the timed steps go in R rounds of
// --steps; with --compare-torch the peer runs alongside in serve mode and
// each of our rounds is followed by one of its rounds (served_peer.h): the
// ratio is the median of the R per-round ratios, each from two medians a
// few seconds apart, with their min-max. With --profile, also prints where
// the timed steps' time went, per op and per layer
// (models/profile/op_profile.h). Under mpirun, --comm-trace also prints when
// each gradient bucket was reduced (comm_trace.h).
//
// With --against SET (repeatable, as --set), a second trainer runs the same
// config with those overrides on top (`--against parallel.allreduce=MPI`:
// the same job with MPI_Allreduce) in the same processes, its rounds
// alternating with ours (order flipped every round), and the table compares
// them round by round: both sides see the same machine phase and the same
// placement of the ranks on the cores, which differ from one mpirun to the
// next more than many changes weigh.
//
// `hai bench train --device cuda[:N] ...` runs the same benchmark on GPU N
// (`hai bench train-cuda --device N ...`, in the CUDA build hai_cuda; the
// CPU-only hai says so). `--device cpu` is the default.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/rng.h"
#include "haiscale/round_stats.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/bench_timing.h"
#include "haiscale/train/comm_trace.h"
#include "haiscale/train/served_peer.h"
#include "haiscale/train/trainer.h"
#include "models/profile/op_profile.h"
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

// The config with --set overrides, sized for the bench's steps.
// TimedSteps: --steps x --rounds (both checked >= 1 before anything runs).
int64_t TimedSteps(const cli::ArgParser& args) {
  return args.GetInt("steps") * args.GetInt("rounds");
}

absl::StatusOr<config::RunConfig> LoadBenchConfig(const cli::ArgParser& args) {
  HS_ASSIGN_OR_RETURN(config::RunConfig cfg, config::LoadConfig(args.GetString("config")));
  for (const std::string& s : args.GetList("set")) {
    HS_RETURN_IF_ERROR(Annotate(config::ApplyOverride(&cfg, s), "--set ", s));
  }
  cfg.mutable_train()->set_steps(args.GetInt("warmup") + TimedSteps(args));
  cfg.mutable_train()->set_threads(args.GetInt("threads"));
  cfg.mutable_data()->set_shuffle(false);
  return cfg;
}

// PrintProfile: --profile's tables; the step's time outside the model's
// op timers shows as the optimizer (clip, AdamW, gradient sums: the step
// after forward + backward) and the rest of forward + backward.
void PrintProfile(const Timing& t, int64_t steps) {
  double ops = 0;
  for (const models::OpProfileEntry& e : t.ops) ops += e.seconds;
  std::printf("\n%s", models::FormatOpProfile(
                          t.ops, steps, t.step_total / double(steps),
                          {{"other fwd/bwd (zero grads, glue)", t.compute_total - ops},
                           {"optimizer (clip, AdamW)", t.step_total - t.compute_total}})
                          .c_str());
}

// The peer's command line (its steps: all rounds'); `serve` for --rounds.
std::string TorchPeerCommand(const cli::ArgParser& args, int threads, bool serve) {
  return absl::StrCat(args.GetString("python"), " ", args.GetString("peer-script"), " --config ",
                      args.GetString("config"), " --threads ", threads, " --steps ",
                      TimedSteps(args),
                      " --warmup ", args.GetInt("warmup"), serve ? " --serve" : " --json");
}

// The PyTorch eager peer's tokens/s (0 and a note when it failed).
double RunTorchPeer(const cli::ArgParser& args, int threads, std::string* note) {
  const std::string cmd = TorchPeerCommand(args, threads, false);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return 0;
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  int rc = pclose(p);
  double tps = 0;
  if (rc != 0 || !JsonNumber(out, "tokens_per_s", &tps)) {
    *note = absl::StrCat("PyTorch peer failed (exit ", rc, "): ", cmd);
    return 0;
  }
  return tps;
}

struct BenchResult {
  Timing timing;
  double tokens = 0, tps = 0, flops_tok = 0, gflops = 0, torch_tps = 0;
  // --rounds with --compare-torch: the peer's step medians per round, and
  // the per-round ratios' median and range (ratio_min = 0: one run each).
  std::vector<double> torch_round_median;
  double ratio = 0, ratio_min = 0, ratio_max = 0;
  // The same rounds compared: the peer's step over ours (higher: ours faster).
  RoundComparison torch_cmp;
  int dp = 1, threads = 1;
  CpuPeak peak;
  double params = 0;
  std::vector<BucketTraceRow> comm_trace;  // --comm-trace (rank 0)
  std::string torch_note;
  // --against: the other trainer's timing and tokens/s, and the per-round
  // comparisons (ours / theirs): step time, rank 0's exposed time, and the
  // exposed time after the slowest backward.
  std::string against;  // its overrides, space-separated
  Timing against_timing;
  double against_tokens = 0;  // per step
  bool against_first = false;  // --against-first: theirs was built first
  double against_tps = 0;
  // speed_cmp: tokens/s, ours over theirs (higher: the rounds where ours
  // was faster).
  RoundComparison speed_cmp, exposed_cmp, after_slowest_cmp;
};

// ByRankJson(t): `, "by_rank": {...}` with t's per-rank lists in ms (empty
// for one process).
std::string ByRankJson(const Timing& t) {
  if (t.by_rank.empty()) return "";
  std::string out = ", \"by_rank\": {";
  const char* names[3] = {"comm_cpu_ms", "compute_ms", "main_cpu_ms"};
  for (int k = 0; k < 3; ++k) {
    absl::StrAppend(&out, k ? ", " : "", "\"", names[k], "\": [");
    for (size_t i = 0; i < t.by_rank.size(); ++i) {
      absl::StrAppendFormat(&out, "%s%.2f", i ? ", " : "", t.by_rank[i][k] * 1e3);
    }
    out += "]";
  }
  return out + "}";
}

// AgainstSummary(r, json): --against's comparison, as JSON fields or as
// the lines under the table.
std::string AgainstSummary(const BenchResult& r, bool json) {
  const Timing& b = r.against_timing;
  const RoundComparison& st = r.speed_cmp;
  const bool dp = r.timing.data_parallel > 1;
  if (json) {
    std::string out = absl::StrFormat(
        ", \"against\": {\"set\": \"%s\", \"built_first\": %s, \"tokens_per_s\": %.1f, \"step_ms\": %.2f, "
        "\"overlap\": %.3f, \"exposed_comm_ms\": %.2f, \"exposed_after_slowest_ms\": %.2f, "
        "\"embedding_rows_reduced\": %.3f, \"comm_cpu_ms\": %.2f, \"comm_switches\": %.1f, "
        "\"compute_ms\": %.2f, \"main_cpu_ms\": %.2f, \"main_switches\": %.1f, "
        "\"process_cpu_ms\": %.2f, "
        "\"tokens_per_step\": %.0f, \"rounds\": %d, \"speed_ratio\": %.4f, "
        "\"speed_ratio_min\": %.4f, \"speed_ratio_max\": %.4f, \"ahead_rounds\": %d, "
        "\"speed_sign_p\": %.4f",
        r.against, r.against_first ? "true" : "false", r.against_tps, b.median * 1e3, b.overlap, b.exposed * 1e3,
        b.exposed_after_slowest * 1e3, b.embedding_rows, b.comm_cpu * 1e3, b.comm_switches,
        b.compute * 1e3, b.main_cpu * 1e3, b.main_switches, b.process_cpu * 1e3, r.against_tokens, st.rounds, st.median, st.min, st.max,
        st.higher, st.sign_p());
    if (dp) {
      const RoundComparison& e = r.exposed_cmp;
      const RoundComparison& a = r.after_slowest_cmp;
      absl::StrAppendFormat(&out,
                            ", \"exposed_ratio\": %.4f, \"exposed_lower_rounds\": %d, "
                            "\"exposed_sign_p\": %.4f, "
                            "\"after_slowest_ratio\": %.4f, \"after_slowest_ratio_min\": %.4f, "
                            "\"after_slowest_ratio_max\": %.4f, \"after_slowest_lower_rounds\": %d, "
                            "\"after_slowest_sign_p\": %.4f",
                            e.median, e.lower, e.sign_p(), a.median, a.min, a.max, a.lower,
                            a.sign_p());
    }
    return out + ByRankJson(b) + "}";
  }
  std::string out = absl::StrFormat(
      "against %s: %d rounds of %d steps each, interleaved (order flipped every round); built "
      "first: %s\n",
      r.against, st.rounds, int(r.timing.exposed_steps.size() / std::max<size_t>(1, r.timing.round_median.size())),
      r.against_first ? "against" : "this");
  absl::StrAppendFormat(&out, "%-10s | %10s | %10s", "", "ms/step", "tokens/s");
  if (dp) {
    absl::StrAppendFormat(&out, " | %16s | %17s | %7s | %12s | %8s", "exposed (rank 0)",
                          "after slowest bwd", "overlap", "comm CPU", "switches");
  }
  out += "\n";
  auto row = [&](const char* name, const Timing& t, double tps) {
    absl::StrAppendFormat(&out, "%-10s | %10.1f | %10.1f", name, t.median * 1e3, tps);
    if (dp) {
      absl::StrAppendFormat(&out, " | %13.2f ms | %14.2f ms | %6.0f%% | %9.2f ms | %8.0f",
                            t.exposed * 1e3, t.exposed_after_slowest * 1e3, 100 * t.overlap,
                            t.comm_cpu * 1e3, t.comm_switches);
    }
    out += "\n";
  };
  row("this", r.timing, r.tps);
  row("against", b, r.against_tps);
  absl::StrAppendFormat(&out,
                        "per round, this / against: tokens/s %.2fx (%.2f-%.2f), ahead in %d of %d "
                        "(sign test p %.3f)",
                        st.median, st.min, st.max, st.higher, st.rounds, st.sign_p());
  if (dp) {
    const RoundComparison& a = r.after_slowest_cmp;
    const RoundComparison& e = r.exposed_cmp;
    absl::StrAppendFormat(&out,
                          "; exposed after the slowest backward %.2fx (%.2f-%.2f), lower in %d "
                          "(p %.3f); rank 0's exposed %.2fx (%.2f-%.2f), lower in %d (p %.3f)",
                          a.median, a.min, a.max, a.lower, a.sign_p(), e.median, e.min, e.max,
                          e.lower, e.sign_p());
  }
  return out + "\n";
}

void PrintBench(const cli::ArgParser& args, const config::RunConfig& cfg, const BenchResult& r) {
  const double median = r.timing.median, peak = r.peak.gflops;
  if (args.GetBool("json")) {
    std::printf("{\"config\": \"%s\", \"dp\": %d, \"threads\": %d, \"tokens_per_s\": %.1f, "
                "\"step_ms\": %.2f, \"gflops\": %.2f, \"mfu\": %.4f, \"peak_gflops\": %.1f, "
                "\"overlap\": %.3f, \"exposed_comm_ms\": %.2f, \"exposed_after_slowest_ms\": %.2f, "
                "\"embedding_rows_reduced\": %.3f, \"comm_cpu_ms\": %.2f, \"comm_switches\": %.1f, "
                "\"compute_ms\": %.2f, \"main_cpu_ms\": %.2f, \"main_switches\": %.1f, "
                "\"process_cpu_ms\": %.2f, \"torch_tokens_per_s\": %.1f, "
                "\"rounds\": %d, \"ratio\": %.4f, \"ratio_min\": %.4f, \"ratio_max\": %.4f, "
                "\"ratio_ahead_rounds\": %d, \"ratio_sign_p\": %.4f%s%s%s}\n",
                args.GetString("config").c_str(), r.dp, r.threads, r.tps, median * 1e3, r.gflops,
                r.gflops / peak, peak, r.timing.overlap, r.timing.exposed * 1e3,
                r.timing.exposed_after_slowest * 1e3, r.timing.embedding_rows,
                r.timing.comm_cpu * 1e3, r.timing.comm_switches, r.timing.compute * 1e3,
                r.timing.main_cpu * 1e3, r.timing.main_switches, r.timing.process_cpu * 1e3,
                r.torch_tps,
                int(r.timing.round_median.size()), r.ratio, r.ratio_min, r.ratio_max,
                r.torch_cmp.higher, r.torch_cmp.sign_p(),
                r.comm_trace.empty() ? ""
                                     : (", \"buckets\": " + CommTraceJson(r.comm_trace)).c_str(),
                ByRankJson(r.timing).c_str(), r.against.empty() ? "" : AgainstSummary(r, true).c_str());
    return;
  }
  const config::TrainConfig& tc = cfg.train();
  std::printf("hai bench train | %s | %.2fM params | batch %lld x %lld | %d rank(s) x %d threads\n",
              args.GetString("config").c_str(), r.params / 1e6,
              (long long)tc.global_batch_size(), (long long)tc.seq_len(), r.dp, r.threads);
  if (r.timing.data_parallel > 1) {
    std::printf("data parallel: %s, overlap %.0f%%, exposed communication %.2f ms/step "
                "(rank 0), %.2f ms/step after the slowest rank's backward\n",
                cfg.parallel().allreduce() == config::ParallelConfig::MPI ? "MPI_Allreduce"
                : cfg.parallel().node_shared_params() ? "HFReduce, node-shared parameters"
                                                      : "HFReduce",
                100 * r.timing.overlap, r.timing.exposed * 1e3,
                r.timing.exposed_after_slowest * 1e3);
    std::printf("communication thread: %.2f ms CPU and %.0f context switches per step (mean over "
                "ranks)\n",
                r.timing.comm_cpu * 1e3, r.timing.comm_switches);
    if (r.timing.embedding_rows >= 0) {
      std::printf("embedding gradient: %.0f%% of its rows reduced per step (the rest are zero on "
                  "every rank)\n",
                  100 * r.timing.embedding_rows);
    }
    if (!r.comm_trace.empty()) std::printf("%s", FormatCommTrace(r.comm_trace).c_str());
  }
  if (args.GetBool("comm-trace") && r.comm_trace.empty()) {
    std::printf("gradient buckets: none to trace (no data-parallel group of more than 1 rank)\n");
  }
  std::printf("peak %.1f GFLOP/s = %s\n", peak, r.peak.how.c_str());
  std::printf("%-10s | %10s | %12s | %10s | %7s\n", "impl", "ms/step", "tokens/s", "GFLOP/s", "MFU");
  std::printf("%-10s | %10.1f | %12.1f | %10.2f | %6.2f%%\n", "haiscale", median * 1e3, r.tps,
              r.gflops, 100 * r.gflops / peak);
  if (r.torch_tps > 0) {
    double tg = r.flops_tok * r.torch_tps / 1e9;
    std::printf("%-10s | %10.1f | %12.1f | %10.2f | %6.2f%%\n", "pytorch",
                r.tokens / r.torch_tps * 1e3, r.torch_tps, tg, 100 * tg / peak);
    if (r.ratio_min > 0) {
      std::printf("ratio haiscale/pytorch: %.2fx (median of %d interleaved rounds of %lld steps, "
                  "%.2f-%.2fx; faster in %d, sign test p %.3f)\n",
                  r.ratio, int(r.timing.round_median.size()), (long long)args.GetInt("steps"),
                  r.ratio_min, r.ratio_max, r.torch_cmp.higher, r.torch_cmp.sign_p());
    } else {
      std::printf("ratio haiscale/pytorch: %.2fx\n", r.ratio);
    }
  } else if (!r.torch_note.empty()) {
    std::printf("%s\n", r.torch_note.c_str());
  }
  if (!r.against.empty()) std::printf("%s", AgainstSummary(r, false).c_str());
}

// AgainstConfig(args, cfg): with --against, cfg with those overrides on
// top (the second trainer's config); nullopt without. InvalidArgument
// naming the override when it does not apply.
absl::StatusOr<std::optional<config::RunConfig>> AgainstConfig(const cli::ArgParser& args,
                                                               const config::RunConfig& cfg) {
  if (args.GetList("against").empty()) return std::nullopt;
  config::RunConfig other = cfg;
  for (const std::string& s : args.GetList("against")) {
    if (s.rfind("train.threads", 0) == 0) {
      // SetNumThreads is process-wide: the second trainer's count would
      // become ours too.
      return absl::InvalidArgumentError(absl::StrCat(
          "--against ", s,
          ": the thread count is per process; compare thread counts with separate runs "
          "(--threads)"));
    }
    absl::Status st = Annotate(config::ApplyOverride(&other, s), "--against ", s);
    if (!st.ok()) return absl::InvalidArgumentError(st.message());
  }
  return other;
}

// Bench: builds the trainer on random tokens, times the steps; rank 0
// fills *r. Errors: InvalidArgument for the config, others while running.
absl::Status Bench(const cli::ArgParser& args, config::RunConfig cfg, bool multi_rank,
                   BenchResult* r) {
  const config::TrainConfig& tc = cfg.train();
  const int64_t warmup = args.GetInt("warmup"), steps = args.GetInt("steps");
  const int64_t rounds = args.GetInt("rounds");
  HS_ASSIGN_OR_RETURN(std::optional<config::RunConfig> other, AgainstConfig(args, cfg));
  // Enough random tokens for both trainers' steps, valid in both vocabularies.
  auto tokens_per_step = [](const config::RunConfig& c) {
    return c.train().global_batch_size() * c.train().seq_len();
  };
  int64_t per_step = tokens_per_step(cfg), vocab = cfg.model().vocab_size();
  if (other) {
    per_step = std::max(per_step, tokens_per_step(*other));
    vocab = std::min(vocab, other->model().vocab_size());
    r->against = absl::StrJoin(args.GetList("against"), " ");
  }
  const int64_t need = (warmup + TimedSteps(args)) * per_step + 1;
  // Every rank writes its own copy of the (identical) random tokens.
  HS_ASSIGN_OR_RETURN(std::string path, WriteRandomTokens(need, vocab));
  cfg.mutable_data()->set_train_path(path);
  const TrainerOptions options{.write_outputs = false, .quiet = true, .distributed = multi_rank};
  // --against: the second trainer, built after ours, or before it with
  // --against-first (both orders, to tell the change from the protocol's
  // own spread: docs/cli.md).
  std::unique_ptr<Trainer> theirs;
  auto create_theirs = [&]() -> absl::Status {
    other->mutable_data()->set_train_path(path);
    auto created = Trainer::Create(*other, options);
    if (!created.ok()) return Annotate(created.status(), "--against ", r->against);
    theirs = std::move(*created);
    r->against_tokens = double(tokens_per_step(*other));
    return absl::OkStatus();
  };
  const bool theirs_first = other && args.GetBool("against-first");
  r->against_first = theirs_first;
  if (theirs_first) {
    if (absl::Status st = create_theirs(); !st.ok()) {
      fs::remove(path);
      return st;
    }
  }
  auto trainer = Trainer::Create(cfg, options);
  if (trainer.ok() && other && !theirs_first) {
    if (absl::Status st = create_theirs(); !st.ok()) {
      fs::remove(path);
      return st;
    }
  }
  // --rounds with --compare-torch: the peer in serve mode, a round of its
  // steps after each of ours (its warmup after ours). Started once the
  // trainer has set the thread count the peer must use too.
  std::unique_ptr<ServedPeer> peer;
  std::function<absl::Status(int64_t)> between;
  if (trainer.ok() && rounds > 1 && args.GetBool("compare-torch")) {
    auto started = ServedPeer::Start(TorchPeerCommand(args, NumThreads(), true));
    if (!started.ok()) {
      fs::remove(path);
      return started.status();
    }
    peer = std::move(*started);
    between = [&](int64_t round) -> absl::Status {
      HS_ASSIGN_OR_RETURN(std::vector<double> ms, peer->Steps(round < 0 ? warmup : steps));
      if (round >= 0) r->torch_round_median.push_back(MedianOf(ms) / 1e3);
      return absl::OkStatus();
    };
  }
  absl::StatusOr<Timing> timing = absl::InternalError("not timed");
  if (!trainer.ok()) {
    timing = trainer.status();
  } else if (theirs != nullptr) {
    Timing ours;
    absl::Status st =
        TimeAgainst(**trainer, *theirs, warmup, steps, rounds, &ours, &r->against_timing);
    if (st.ok()) timing = ours; else timing = st;
  } else {
    timing = TimeSteps(**trainer, warmup, steps, rounds, args.GetBool("profile"), between);
  }
  fs::remove(path);
  HS_RETURN_IF_ERROR(timing.status());
  r->timing = *timing;
  if (multi_rank && !r->timing.exposed_steps.empty()) {
    HS_ASSIGN_OR_RETURN(LeastWaits least, GatherOverRanks(&r->timing));
    if (args.GetBool("comm-trace")) {
      HS_ASSIGN_OR_RETURN(r->comm_trace, GatherCommTrace(parallel::MpiEnv::world(),
                                                         r->timing.spans, least.ranks));
    }
  }
  r->tokens = double(tc.global_batch_size()) * tc.seq_len();
  if (theirs != nullptr) {
    Timing& b = r->against_timing;
    r->against_tps = r->against_tokens / b.median;
    std::vector<double> ours_tps, theirs_tps;
    for (double sec : r->timing.round_median) ours_tps.push_back(r->tokens / sec);
    for (double sec : b.round_median) theirs_tps.push_back(r->against_tokens / sec);
    r->speed_cmp = CompareRounds(ours_tps, theirs_tps);
    r->exposed_cmp = CompareRounds(RoundMeans(r->timing.exposed_steps, steps),
                                   RoundMeans(b.exposed_steps, steps));
    if (multi_rank && !b.exposed_steps.empty()) {
      HS_RETURN_IF_ERROR(GatherOverRanks(&b).status());
      r->after_slowest_cmp = CompareRounds(RoundMeans(r->timing.after_slowest_steps, steps),
                                           RoundMeans(b.after_slowest_steps, steps));
    }
  }
  r->tps = r->tokens / r->timing.median;
  r->flops_tok = (*trainer)->model().TrainingFlopsPerToken(tc.seq_len());
  r->gflops = r->flops_tok * r->tps / 1e9;
  r->dp = multi_rank ? parallel::MpiEnv::size() : 1;
  r->peak = (*trainer)->peak();
  if (r->dp > 1) {  // all ranks' cores
    r->peak.gflops *= r->dp;
    r->peak.how = absl::StrCat(r->dp, " ranks x ", r->peak.how);
  }
  r->threads = NumThreads();
  r->params = double((*trainer)->model().arena().size());
  if (!r->torch_round_median.empty()) {
    const RoundComparison c = CompareRounds(r->torch_round_median, r->timing.round_median);
    r->ratio = c.median;
    r->ratio_min = c.min;
    r->ratio_max = c.max;
    r->torch_cmp = c;
    r->torch_tps = r->tokens / MedianOf(r->torch_round_median);
  }
  return absl::OkStatus();
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
  args.AddInt("rounds", 1,
              "timed rounds of --steps; with --compare-torch the peer's rounds interleave");
  args.AddInt("threads", 0, "CPU threads (0 = all cores)");
  args.AddBool("compare-torch", "also run the PyTorch eager peer and print the ratio");
  args.AddList("against",
               "a config override for a second trainer timed in rounds interleaved with this "
               "one (repeatable; e.g. parallel.allreduce=MPI)");
  args.AddBool("against-first",
               "build the --against trainer before this one (measure both orders)");
  args.AddString("python", "/usr/bin/python3", "python with torch, for --compare-torch");
  args.AddString("peer-script", "tools/peers/deepseek_v2_torch.py", "the PyTorch peer");
  args.AddBool("json", "print one JSON record instead of the table");
  args.AddBool("profile", "also print the timed steps' time per op and per layer");
  args.AddBool("comm-trace",
               "under mpirun: also print when each gradient bucket was reduced, from the end of "
               "backward on the rank that ended it last");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  auto fail = [](const absl::Status& s, int code) {
    std::fprintf(stderr, "hai bench train: %s\n", std::string(s.message()).c_str());
    return code;
  };
  if (args.GetInt("steps") < 1 || args.GetInt("rounds") < 1 || args.GetInt("warmup") < 0) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
                    "--steps ", args.GetInt("steps"), ", --rounds ", args.GetInt("rounds"),
                    ", --warmup ", args.GetInt("warmup"),
                    ": expected at least 1 timed step and round, and no negative warmup")),
                2);
  }
  if (args.GetString("device") != "cpu") {
    return fail(absl::InvalidArgumentError(absl::StrCat(
                    "--device ", args.GetString("device"), ": expected cpu, cuda or cuda:N")),
                2);
  }
  auto cfg = LoadBenchConfig(args);
  if (!cfg.ok()) return fail(cfg.status(), 2);
  const bool multi_rank = parallel::MpiEnv::active() && parallel::MpiEnv::size() > 1;
  if (multi_rank && args.GetBool("compare-torch") && args.GetInt("rounds") > 1) {
    return fail(absl::InvalidArgumentError(
                    "--rounds with --compare-torch interleaves one process with the peer; run it "
                    "without mpirun"),
                2);
  }
  if (!args.GetList("against").empty() &&
      (args.GetBool("compare-torch") || args.GetBool("profile"))) {
    return fail(absl::InvalidArgumentError(
                    "--against times two trainers in turn: it takes neither --compare-torch nor "
                    "--profile (their timers would mix both)"),
                2);
  }
  if (args.GetBool("against-first") && args.GetList("against").empty()) {
    return fail(absl::InvalidArgumentError("--against-first needs --against"), 2);
  }
  if (!multi_rank && args.GetBool("comm-trace")) {
    return fail(absl::InvalidArgumentError(
                    "--comm-trace traces data-parallel gradient buckets: run under mpirun -np N "
                    "(N > 1)"),
                2);
  }
  BenchResult r;
  if (absl::Status st = Bench(args, *cfg, multi_rank, &r); !st.ok()) {
    if (multi_rank && !absl::IsInvalidArgument(st)) parallel::AbortJob(st, 1);
    return fail(st, absl::IsInvalidArgument(st) ? 2 : 1);
  }
  if (parallel::MpiEnv::rank() != 0) return 0;
  if (args.GetBool("compare-torch") && r.torch_round_median.empty()) {
    r.torch_tps = RunTorchPeer(args, r.threads, &r.torch_note);
    if (r.torch_tps > 0) r.ratio = r.tps / r.torch_tps;
  }
  PrintBench(args, *cfg, r);
  if (args.GetBool("profile") && !args.GetBool("json")) PrintProfile(r.timing, TimedSteps(args));
  return 0;
}

HS_REGISTER_SUBCOMMAND("bench train", "training-step throughput, MFU, ratio vs PyTorch", RunBenchTrain);

}  // namespace
}  // namespace hs::train
