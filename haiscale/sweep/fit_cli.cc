// File: haiscale/sweep/fit_cli.cc
//
// `hai sweep fit --dir DIR [--bootstrap N] [--seed S] [--plot-script PATH]`
// Fits DIR/results.csv (fit.h) and writes DIR/fit.json, DIR/report.md and,
// through `python3 tools/plot_sweep.py --dir DIR`, the plots the report
// shows. Exit codes: 0 ok, 1 plots failed, 2 bad usage or nothing to fit.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/sweep/fit.h"
#include "haiscale/sweep/fit_report.h"
#include "haiscale/sweep/runner.h"
#include "haiscale/sweep/sweep.pb.h"

namespace hs::sweep {
namespace {

namespace fs = std::filesystem;

// The metric's name from DIR/sweep.pbtxt (written by hai sweep run).
std::string MetricName(const std::string& dir) {
  auto text = io::ReadFileToString((fs::path(dir) / "sweep.pbtxt").string());
  SweepConfig c;
  if (!text.ok() || !config::ParseTextMessage(*text, "sweep.pbtxt", &c).ok()) return "metric";
  switch (c.metric().kind()) {
    case Metric::BITS_PER_BYTE: return "bits per byte";
    case Metric::TRAIN_LOSS: return "train loss";
    default: return "eval loss";
  }
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int RunSweepFit(int argc, char** argv) {
  cli::ArgParser args("hai sweep fit");
  args.AddString("dir", "", "sweep directory (from hai sweep run)");
  args.AddInt("bootstrap", 1000, "bootstrap resamples for the confidence intervals");
  args.AddInt("seed", 0, "seed of the bootstrap");
  args.AddString("plot-script", "tools/plot_sweep.py", "plotting script (python3 + matplotlib)");
  args.AddBool("no-plots", "write fit.json and report.md only");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  const std::string dir = args.GetString("dir");
  auto fail = [](const std::string& msg, int code) {
    std::fprintf(stderr, "hai sweep fit: %s\n", msg.c_str());
    return code;
  };
  if (dir.empty()) return fail("--dir is required", 2);
  if (args.GetInt("bootstrap") < 0) return fail("--bootstrap: must be >= 0", 2);
  const std::string results = (fs::path(dir) / "results.csv").string();
  auto rows = ReadResultsCsv(results);
  if (!rows.ok()) return fail(std::string(rows.status().message()), 2);
  FitOptions o;
  o.bootstrap = args.GetInt("bootstrap");
  o.seed = uint64_t(args.GetInt("seed"));
  auto fit = FitSweep(FitPointsFromResults(*rows), o);
  if (!fit.ok()) return fail(absl::StrCat(results, ": ", fit.status().message()), 2);
  const std::string json = (fs::path(dir) / "fit.json").string();
  const std::string report = (fs::path(dir) / "report.md").string();
  absl::Status s = io::WriteFileAtomically(json, FitToJson(*fit));
  if (s.ok()) s = io::WriteFileAtomically(report, FitReportMarkdown(dir, MetricName(dir), *rows, *fit));
  if (!s.ok()) return fail(std::string(s.message()), 1);
  for (const BudgetFit& b : fit->budgets) {
    std::printf("C %-9.3g %d sizes  M_opt %-10.4g D_opt %-10.4g %s\n", b.budget, int(b.points),
                b.m_opt, b.d_opt, b.bracketed ? "" : ("(not used: " + b.note + ")").c_str());
  }
  if (fit->m_opt.valid) {
    std::printf("M_opt = %.4g C^%.4f [%.4f, %.4f]   D_opt = %.4g C^%.4f [%.4f, %.4f]\n",
                fit->m_opt.coef, fit->m_opt.exp, fit->m_opt.exp_lo, fit->m_opt.exp_hi,
                fit->d_opt.coef, fit->d_opt.exp, fit->d_opt.exp_lo, fit->d_opt.exp_hi);
  } else {
    std::printf("power laws: need at least 2 budgets whose minimum lies inside their sizes\n");
  }
  std::printf("wrote %s and %s\n", json.c_str(), report.c_str());
  if (args.GetBool("no-plots")) return 0;
  const std::string script = args.GetString("plot-script");
  if (!fs::exists(script)) {
    return fail(absl::StrCat("plots skipped: ", script,
                             " not found (run from the repository root, or pass --plot-script)"),
                1);
  }
  // Debian's interpreter, where python3-matplotlib is installed (a python3
  // earlier in PATH may be a virtual environment without it).
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string cmd =
      absl::StrCat(python, " ", ShellQuote(script), " --dir ", ShellQuote(dir));
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    return fail(absl::StrCat("`", cmd, "` failed (exit ", WIFEXITED(rc) ? WEXITSTATUS(rc) : rc,
                             "); tools/setup.sh installs python3-matplotlib"),
                1);
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("sweep fit", "fit scaling laws to a sweep's results (fit.json, report.md, plots)",
                       RunSweepFit);

}  // namespace
}  // namespace hs::sweep
