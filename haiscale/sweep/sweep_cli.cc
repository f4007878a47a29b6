// File: haiscale/sweep/sweep_cli.cc
//
// `hai sweep plan --config S.pbtxt [--measure]`  the table of points, nothing
//                                               run (--measure: times a few steps
//                                               of each point with hai bench train)
// `hai sweep run --config S.pbtxt --dir DIR`   run them (resumable), results.csv
// `hai sweep status --dir DIR`                 done / running / failed
// (`hai sweep fit` is in fit_cli.cc.)
// Exit codes: 0 ok, 1 some point failed, 2 bad usage or config (the message
// names the field or the point), 3 stopped by a signal (run again to go on).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "nlohmann/json.hpp"

#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/sweep/plan.h"
#include "haiscale/sweep/runner.h"
#include "haiscale/sweep/sweep_config.h"

namespace hs::sweep {
namespace {

// LoadPlan: --config -> sweep + points; prints the error (naming `program`)
// and returns false when either is invalid.
bool LoadPlan(const char* program, const cli::ArgParser& args, Sweep* sweep,
              std::vector<SweepPoint>* points) {
  if (args.GetString("config").empty()) {
    std::fprintf(stderr, "%s: --config is required\n", program);
    return false;
  }
  auto loaded = LoadSweep(args.GetString("config"));
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s: %s\n", program, std::string(loaded.status().message()).c_str());
    return false;
  }
  auto made = MakePlan(*loaded);
  if (!made.ok()) {
    std::fprintf(stderr, "%s: %s: %s\n", program, loaded->source.c_str(),
                 std::string(made.status().message()).c_str());
    return false;
  }
  *sweep = *std::move(loaded);
  *points = *std::move(made);
  return true;
}

// MeasurePoints: each point's estimate from `hai bench train` on its run
// config (`steps` timed steps after one warm-up step, one rank, the
// point's threads): est_seconds = D / measured tokens per second.
absl::Status MeasurePoints(int64_t steps, std::vector<SweepPoint>* points) {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/hai_sweep_measure.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = tmpl;
  const std::string hai = SelfExecutable();
  absl::Status status = absl::OkStatus();
  for (SweepPoint& p : *points) {
    config::RunConfig run = p.run;
    run.mutable_train()->set_output_dir((fs::path(dir) / "out").string());
    const std::string path = (fs::path(dir) / "run.pbtxt").string();
    status = io::WriteFileAtomically(path, config::ConfigToText(run));
    if (!status.ok()) break;
    const std::string cmd = absl::StrCat("'", hai, "' bench train --config '", path, "' --steps ",
                                         steps, " --warmup 1 --threads ", run.train().threads(),
                                         " --json 2>&1");
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return absl::InternalError("popen failed");
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
    const int rc = pclose(pipe);
    const size_t brace = out.rfind("{\"config\"");
    auto j = nlohmann::json::parse(brace == std::string::npos ? "" : out.substr(brace), nullptr, false);
    if (rc != 0 || j.is_discarded() || !j.contains("tokens_per_s") || !(j["tokens_per_s"].get<double>() > 0)) {
      status = absl::InternalError(absl::StrCat("point ", p.name, ": `", cmd, "` failed:\n", out));
      break;
    }
    p.est_seconds = double(p.tokens) / j["tokens_per_s"].get<double>();
    std::fprintf(stderr, "measured %s: %.0f tokens/s\n", p.name.c_str(), j["tokens_per_s"].get<double>());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return status;
}

int RunSweepPlan(int argc, char** argv) {
  cli::ArgParser args("hai sweep plan");
  args.AddString("config", "", "sweep config (.pbtxt), e.g. configs/sweeps/isoflop_tiny.pbtxt");
  args.AddBool("measure", "time each point with hai bench train (one rank) instead of "
                          "execution.gflops_per_thread");
  args.AddInt("measure-steps", 5, "timed steps per point for --measure");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  Sweep sweep;
  std::vector<SweepPoint> points;
  if (!LoadPlan("hai sweep plan", args, &sweep, &points)) return 2;
  if (args.GetBool("measure")) {
    absl::Status m = MeasurePoints(std::max<int64_t>(1, args.GetInt("measure-steps")), &points);
    if (!m.ok()) {
      std::fprintf(stderr, "hai sweep plan: --measure: %s\n", std::string(m.message()).c_str());
      return 1;
    }
  }
  std::printf("%s", FormatPlanTable(sweep, points, args.GetBool("measure")).c_str());
  return 0;
}

int RunSweepRun(int argc, char** argv) {
  cli::ArgParser args("hai sweep run");
  args.AddString("config", "", "sweep config (.pbtxt)");
  args.AddString("dir", "", "sweep directory: one hai train run directory per point, results.csv");
  args.AddString("hai", "", "the hai binary the points run (default: this one)");
  args.AddString("debug-preempt-point", "", "testing: the point whose first attempt is preempted");
  args.AddInt("debug-preempt-after", 0, "testing: ... after this many steps");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  Sweep sweep;
  std::vector<SweepPoint> points;
  if (!LoadPlan("hai sweep run", args, &sweep, &points)) return 2;
  RunOptions o;
  o.dir = args.GetString("dir");
  o.hai_binary = args.IsSet("hai") ? args.GetString("hai") : SelfExecutable();
  o.live = isatty(STDOUT_FILENO) != 0;
  o.debug_preempt_point = args.GetString("debug-preempt-point");
  o.debug_preempt_after = args.GetInt("debug-preempt-after");
  auto outcome = RunSweep(sweep, points, o);
  if (!outcome.ok()) {
    std::fprintf(stderr, "hai sweep run: %s\n", std::string(outcome.status().message()).c_str());
    return absl::IsInvalidArgument(outcome.status()) || absl::IsFailedPrecondition(outcome.status())
               ? 2 : 1;
  }
  std::printf("sweep: %lld of %zu points done, %lld failed, %lld interrupted; results in %s/results.csv\n",
              (long long)outcome->done, points.size(), (long long)outcome->failed,
              (long long)outcome->interrupted, o.dir.c_str());
  if (outcome->interrupted > 0 || outcome->done + outcome->failed < int64_t(points.size())) {
    std::printf("sweep: stopped early; run the same command again to continue\n");
    return 3;
  }
  return outcome->failed > 0 ? 1 : 0;
}

int RunSweepStatus(int argc, char** argv) {
  cli::ArgParser args("hai sweep status");
  args.AddString("dir", "", "sweep directory (from hai sweep run)");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  if (args.GetString("dir").empty()) {
    std::fprintf(stderr, "hai sweep status: --dir is required\n");
    return 2;
  }
  auto st = ReadSweepStatus(args.GetString("dir"));
  if (!st.ok()) {
    std::fprintf(stderr, "hai sweep status: %s\n", std::string(st.status().message()).c_str());
    return 2;
  }
  std::printf("%s", FormatStatusTable(*st).c_str());
  return 0;
}

HS_REGISTER_SUBCOMMAND("sweep plan", "the points of a scaling-law sweep, without running them",
                       RunSweepPlan);
HS_REGISTER_SUBCOMMAND("sweep run", "run a sweep's points as hai train runs (resumable)",
                       RunSweepRun);
HS_REGISTER_SUBCOMMAND("sweep status", "which points of a sweep are done, running, failed",
                       RunSweepStatus);

}  // namespace
}  // namespace hs::sweep
