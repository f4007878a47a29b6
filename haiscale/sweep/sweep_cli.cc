// File: haiscale/sweep/sweep_cli.cc
//
// `hai sweep plan --config S.pbtxt`            the table of points, nothing run
// `hai sweep run --config S.pbtxt --dir DIR`   run them (resumable), results.csv
// `hai sweep status --dir DIR`                 done / running / failed
// (`hai sweep fit` is in fit_cli.cc.)
// Exit codes: 0 ok, 1 some point failed, 2 bad usage or config (the message
// names the field or the point), 3 stopped by a signal (run again to go on).
#include <unistd.h>

#include <cstdio>
#include <string>

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

int RunSweepPlan(int argc, char** argv) {
  cli::ArgParser args("hai sweep plan");
  args.AddString("config", "", "sweep config (.pbtxt), e.g. configs/sweeps/isoflop_tiny.pbtxt");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  Sweep sweep;
  std::vector<SweepPoint> points;
  if (!LoadPlan("hai sweep plan", args, &sweep, &points)) return 2;
  std::printf("%s", FormatPlanTable(sweep, points).c_str());
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
