// File: haiscale/sweep/runner.cc — see runner.h.
#include "haiscale/sweep/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/text_format.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "haiscale/sweep/sweep_files.h"

extern char** environ;

namespace hs::sweep {
namespace {

namespace fs = std::filesystem;

// Exit code of `hai train` after a preemption signal (haiscale/train/preemption.h).
constexpr int kExitPreempted = 75;

volatile sig_atomic_t g_signals = 0;
void OnSignal(int) { g_signals = g_signals + 1; }

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The last `n` lines of a file, for a failed point's report.
std::string TailLines(const std::string& path, int n) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (int(lines.size()) > n) lines.pop_front();
  }
  return absl::StrJoin(lines, "\n");
}

std::string Absolute(const std::string& path) {
  if (path.empty()) return path;
  return fs::absolute(path).lexically_normal().string();
}

struct Running {
  size_t index;       // into points
  pid_t pid;
  double started;
  double start_fraction;  // progress when this attempt began (resumed runs)
};

class SweepRun {
 public:
  SweepRun(const Sweep& sweep, const std::vector<SweepPoint>& points, const RunOptions& o)
      : sweep_(sweep), points_(points), o_(o) {}

  absl::StatusOr<SweepOutcome> Run();

 private:
  std::string PointDir(size_t i) const { return (fs::path(o_.dir) / points_[i].name).string(); }
  absl::Status Prepare();
  absl::Status Launch(size_t i);
  absl::Status Finished(const Running& r, int wait_status);
  absl::Status WriteResults();
  double Fraction(size_t i) const {
    return rows_[i].steps > 0 ? std::min(1.0, double(rows_[i].step) / double(rows_[i].steps)) : 0;
  }
  void Display(bool force);

  const Sweep& sweep_;
  const std::vector<SweepPoint>& points_;
  RunOptions o_;
  std::vector<PointStatus> rows_;
  std::vector<int64_t> attempts_;  // this invocation
  std::deque<size_t> queue_;
  std::map<pid_t, Running> running_;
  SweepOutcome outcome_;
  double t0_ = 0;
  double work_done_ = 0;   // est_seconds completed in this invocation
  double last_display_ = 0;
  std::string last_line_;
};

absl::Status SweepRun::Prepare() {
  std::error_code ec;
  fs::create_directories(o_.dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--dir ", o_.dir, ": ", ec.message()));
  for (size_t i = 0; i < points_.size(); ++i) {
    rows_.push_back(PlanRow(points_[i]));
    config::RunConfig run = points_[i].run;
    run.mutable_train()->set_output_dir(Absolute(PointDir(i)));
    run.mutable_data()->set_train_path(Absolute(run.data().train_path()));
    run.mutable_data()->set_eval_path(Absolute(run.data().eval_path()));
    const std::string text = config::ConfigToText(run);
    const std::string path = (fs::path(PointDir(i)) / "run.pbtxt").string();
    auto old = io::ReadFileToString(path);
    if (old.ok() && *old != text) {
      return absl::FailedPreconditionError(absl::StrCat(
          "point ", points_[i].name, ": ", path,
          " differs from what the sweep config now makes of this point (the config changed "
          "since the sweep started); use a new --dir, or remove ", PointDir(i), " to redo it"));
    }
    if (!old.ok()) {
      fs::create_directories(PointDir(i), ec);
      if (ec) return absl::InternalError(absl::StrCat(PointDir(i), ": ", ec.message()));
      HS_RETURN_IF_ERROR(io::WriteFileAtomically(path, text));
    }
  }
  HS_RETURN_IF_ERROR(WritePlanCsv((fs::path(o_.dir) / "plan.csv").string(), rows_));
  // The sweep config with its defaults, for `hai sweep fit` (metric name).
  std::string sweep_text;
  google::protobuf::TextFormat::PrintToString(sweep_.config, &sweep_text);
  HS_RETURN_IF_ERROR(io::WriteFileAtomically((fs::path(o_.dir) / "sweep.pbtxt").string(),
                                             absl::StrCat("# from ", sweep_.source, "\n", sweep_text)));
  attempts_.assign(points_.size(), 0);
  for (size_t i = 0; i < points_.size(); ++i) {
    ReadPointState(PointDir(i), &rows_[i]);
    if (rows_[i].state == PointState::kRunning) {
      return absl::FailedPreconditionError(absl::StrCat(
          "point ", points_[i].name, " is running (", PointDir(i),
          "/sweep.pid): is another `hai sweep run` using ", o_.dir, "?"));
    }
    if (rows_[i].state == PointState::kDone) {
      ++outcome_.done;
      continue;
    }
    // Failed in an earlier invocation: it gets max_attempts again.
    if (rows_[i].state == PointState::kFailed) {
      fs::remove(fs::path(PointDir(i)) / "result.json", ec);
      rows_[i].state = PointState::kInterrupted;
      rows_[i].error.clear();
    }
    queue_.push_back(i);
  }
  return WriteResults();
}

absl::Status SweepRun::Launch(size_t i) {
  const std::string dir = PointDir(i);
  std::vector<std::string> argv;
  const int64_t ranks = sweep_.config.execution().ranks_per_run();
  if (ranks > 1) argv = {"mpirun", "-np", absl::StrCat(ranks)};
  argv.insert(argv.end(), {o_.hai_binary, "train", "--config", (fs::path(dir) / "run.pbtxt").string(),
                           "--keep-last", "2"});
  if (attempts_[i] == 0 && o_.debug_preempt_after > 0 && points_[i].name == o_.debug_preempt_point) {
    argv.insert(argv.end(), {"--debug-preempt-after", absl::StrCat(o_.debug_preempt_after)});
  }
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  const std::string log = (fs::path(dir) / "train.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group: a Ctrl-C reaches the sweep only, which passes it on
  // as SIGTERM so the run checkpoints instead of dying mid-step.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = ranks > 1 ? posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ)
                           : posix_spawn(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("point ", points_[i].name, ": cannot start ",
                                            cargv[0], ": ", std::strerror(rc)));
  }
  ++attempts_[i];
  HS_RETURN_IF_ERROR(io::WriteFileAtomically((fs::path(dir) / "sweep.pid").string(),
                                             absl::StrCat(pid, "\n")));
  (void)ReadTrainMetrics(dir, &rows_[i]);
  running_[pid] = Running{i, pid, Now(), Fraction(i)};
  rows_[i].state = PointState::kRunning;
  return absl::OkStatus();
}

absl::Status SweepRun::Finished(const Running& r, int wait_status) {
  const size_t i = r.index;
  const std::string dir = PointDir(i);
  std::error_code ec;
  fs::remove(fs::path(dir) / "sweep.pid", ec);
  PointStatus& p = rows_[i];
  p.seconds += Now() - r.started;
  p.attempts += 1;
  const bool exited = WIFEXITED(wait_status);
  const int code = exited ? WEXITSTATUS(wait_status) : -1;
  absl::Status metrics = ReadTrainMetrics(dir, &p);
  const bool want_eval = sweep_.config.metric().kind() != Metric::TRAIN_LOSS;
  if (exited && code == 0 && metrics.ok() && p.step >= p.steps && (!want_eval || p.eval_loss >= 0)) {
    p.state = PointState::kDone;
    switch (sweep_.config.metric().kind()) {
      case Metric::BITS_PER_BYTE:
        p.metric = p.eval_loss / std::log(2.0) / sweep_.config.metric().bytes_per_token();
        break;
      case Metric::TRAIN_LOSS:
        p.metric = p.train_loss;
        break;
      default:
        p.metric = p.eval_loss;
    }
    ++outcome_.done;
    work_done_ += (1.0 - r.start_fraction) * p.est_seconds;
    HS_RETURN_IF_ERROR(WriteResultJson(dir, p));
    return WriteResults();
  }
  work_done_ += std::max(0.0, Fraction(i) - r.start_fraction) * p.est_seconds;
  if (exited && code == kExitPreempted) {
    // Stopped with a checkpoint: the next `hai sweep run` resumes it.
    p.state = PointState::kInterrupted;
    ++outcome_.interrupted;
    return absl::OkStatus();
  }
  std::string why =
      exited ? (code == 0 ? absl::StrCat("hai train exited 0 but ", metrics.ok()
                                                                       ? "the run did not finish"
                                                                       : metrics.message())
                          : absl::StrCat("hai train exited with code ", code))
             : absl::StrCat("hai train was killed by signal ", WTERMSIG(wait_status));
  why = absl::StrCat(why, " (attempt ", attempts_[i], "; ", dir, "/train.log ends:)\n",
                     TailLines((fs::path(dir) / "train.log").string(), 5));
  if (g_signals == 0 && attempts_[i] < sweep_.config.execution().max_attempts()) {
    std::fprintf(stderr, "\nsweep: point %s failed, retrying: %s\n", p.name.c_str(), why.c_str());
    p.state = PointState::kInterrupted;
    queue_.push_front(i);
    return absl::OkStatus();
  }
  p.state = PointState::kFailed;
  p.error = why;
  ++outcome_.failed;
  std::fprintf(stderr, "\nsweep: point %s failed: %s\n", p.name.c_str(), why.c_str());
  HS_RETURN_IF_ERROR(WriteResultJson(dir, p));
  return WriteResults();
}

absl::Status SweepRun::WriteResults() {
  return WriteResultsCsv((fs::path(o_.dir) / "results.csv").string(), rows_);
}

void SweepRun::Display(bool force) {
  const double now = Now();
  if (!force && now - last_display_ < (o_.live ? 1.0 : 60.0)) return;
  last_display_ = now;
  double progress = work_done_, remaining = 0;
  std::vector<std::string> run_parts;
  for (auto& [pid, r] : running_) {
    const size_t i = r.index;
    (void)ReadTrainMetrics(PointDir(i), &rows_[i]);
    progress += std::max(0.0, Fraction(i) - r.start_fraction) * rows_[i].est_seconds;
    run_parts.push_back(absl::StrFormat("%s %d/%d", rows_[i].name, rows_[i].step, rows_[i].steps));
  }
  for (const PointStatus& p : rows_) {
    if (p.state != PointState::kDone && p.state != PointState::kFailed) {
      remaining += (1.0 - (p.steps > 0 ? std::min(1.0, double(p.step) / double(p.steps)) : 0)) *
                   p.est_seconds;
    }
  }
  const double elapsed = now - t0_;
  const double eta = progress > 0 ? remaining * elapsed / progress : -1;
  std::string line = absl::StrFormat(
      "sweep: %d/%d done | %d running%s%s | %d failed | elapsed %s | ETA %s",
      outcome_.done, rows_.size(), running_.size(), run_parts.empty() ? "" : ": ",
      absl::StrJoin(run_parts, ", "), outcome_.failed, FormatDuration(elapsed),
      eta >= 0 ? FormatDuration(eta) : "?");
  if (o_.live) {
    std::printf("\r\033[K%s", line.c_str());
  } else if (force || line != last_line_) {
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
  last_line_ = line;
}

absl::StatusOr<SweepOutcome> SweepRun::Run() {
  HS_RETURN_IF_ERROR(Prepare());
  t0_ = Now();
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int, old_term;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  int forwarded = 0;
  absl::Status status = absl::OkStatus();
  const size_t k = size_t(sweep_.config.execution().parallel_runs());
  Display(true);
  while (status.ok() && (!running_.empty() || (!queue_.empty() && g_signals == 0))) {
    bool changed = false;
    while (g_signals == 0 && running_.size() < k && !queue_.empty()) {
      const size_t i = queue_.front();
      queue_.pop_front();
      status = Launch(i);
      if (!status.ok()) break;
      changed = true;
    }
    if (g_signals > forwarded) {
      forwarded = g_signals;
      for (auto& [pid, r] : running_) kill(pid, SIGTERM);
      std::fprintf(stderr, "\nsweep: stopping: the running points save a checkpoint and stop; "
                           "run the same command again to continue\n");
    }
    int ws = 0;
    pid_t pid = waitpid(-1, &ws, WNOHANG);
    if (pid > 0 && running_.count(pid)) {
      Running r = running_[pid];
      running_.erase(pid);
      absl::Status s = Finished(r, ws);
      if (!s.ok()) status = s;
      changed = true;
      continue;
    }
    Display(changed);
    std::this_thread::sleep_for(std::chrono::duration<double>(o_.poll_seconds));
  }
  for (size_t i : queue_) {
    if (g_signals > 0 && rows_[i].state == PointState::kInterrupted) ++outcome_.interrupted;
  }
  Display(true);
  if (o_.live) std::printf("\n");
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (!status.ok()) return status;
  return outcome_;
}

}  // namespace

std::string SelfExecutable() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

absl::StatusOr<SweepOutcome> RunSweep(const Sweep& sweep, const std::vector<SweepPoint>& points,
                                      const RunOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("--dir is required");
  if (options.hai_binary.empty()) return absl::InvalidArgumentError("no hai binary to run");
  g_signals = 0;
  SweepRun run(sweep, points, options);
  return run.Run();
}

}  // namespace hs::sweep
