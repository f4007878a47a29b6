// File: haiscale/sweep/sweep_files.cc
//
// The files of a sweep directory (runner.h): plan.csv, results.csv, each
// point's result.json, and the state of a point read from its run
// directory (result.json, sweep.pid, checkpoints/, metrics.jsonl).
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "haiscale/sweep/runner.h"
#include "haiscale/sweep/sweep_files.h"
#include "nlohmann/json.hpp"

namespace hs::sweep {
namespace {

namespace fs = std::filesystem;

const char* kPlanColumns[] = {"name",  "budget", "depth",      "hidden_size", "heads",
                              "n_total", "n_activated", "m",   "tokens",      "steps",
                              "batch_seqs", "seq_len", "lr",   "est_seconds"};
const char* kResultColumns[] = {"state", "attempts", "eval_loss", "train_loss", "metric",
                                "seconds"};

std::string PlanFields(const PointStatus& p) {
  return absl::StrFormat("%s,%.9g,%d,%d,%d,%d,%d,%.9g,%d,%d,%d,%d,%.9g,%.3f", p.name, p.budget,
                         p.depth, p.hidden_size, p.heads, p.n_total, p.n_activated, p.m, p.tokens,
                         p.steps, p.batch_seqs, p.seq_len, p.lr, p.est_seconds);
}

std::string Header(bool results) {
  std::vector<std::string> cols(std::begin(kPlanColumns), std::end(kPlanColumns));
  if (results) cols.insert(cols.end(), std::begin(kResultColumns), std::end(kResultColumns));
  return absl::StrJoin(cols, ",");
}

absl::StatusOr<std::vector<PointStatus>> ReadCsv(const std::string& path, bool results) {
  HS_ASSIGN_OR_RETURN(std::string text, io::ReadFileToString(path));
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != Header(results)) {
    return absl::DataLossError(absl::StrCat(path, ": expected the header ", Header(results)));
  }
  std::vector<PointStatus> out;
  const size_t ncols = std::size(kPlanColumns) + (results ? std::size(kResultColumns) : 0);
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], ',');
    auto bad = [&](const char* what) {
      return absl::DataLossError(absl::StrCat(path, ":", i + 1, ": ", what));
    };
    if (f.size() != ncols) return bad("wrong number of columns");
    PointStatus p;
    p.name = f[0];
    bool ok = absl::SimpleAtod(f[1], &p.budget) && absl::SimpleAtoi(f[2], &p.depth) &&
              absl::SimpleAtoi(f[3], &p.hidden_size) && absl::SimpleAtoi(f[4], &p.heads) &&
              absl::SimpleAtoi(f[5], &p.n_total) && absl::SimpleAtoi(f[6], &p.n_activated) &&
              absl::SimpleAtod(f[7], &p.m) && absl::SimpleAtoi(f[8], &p.tokens) &&
              absl::SimpleAtoi(f[9], &p.steps) && absl::SimpleAtoi(f[10], &p.batch_seqs) &&
              absl::SimpleAtoi(f[11], &p.seq_len) && absl::SimpleAtod(f[12], &p.lr) &&
              absl::SimpleAtod(f[13], &p.est_seconds);
    if (results) {
      const std::string& s = f[14];
      p.state = s == "done" ? PointState::kDone : PointState::kFailed;
      ok = ok && (s == "done" || s == "failed") && absl::SimpleAtoi(f[15], &p.attempts) &&
           absl::SimpleAtod(f[16], &p.eval_loss) && absl::SimpleAtod(f[17], &p.train_loss) &&
           absl::SimpleAtod(f[18], &p.metric) && absl::SimpleAtod(f[19], &p.seconds);
    }
    if (!ok) return bad("a field is not a number (or state not done/failed)");
    out.push_back(std::move(p));
  }
  return out;
}

bool ProcessAlive(int64_t pid) {
  if (pid <= 0 || kill(pid_t(pid), 0) != 0) return false;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  // A zombie (state Z) has finished.
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

}  // namespace

const char* PointStateName(PointState s) {
  switch (s) {
    case PointState::kPending: return "pending";
    case PointState::kRunning: return "running";
    case PointState::kInterrupted: return "interrupted";
    case PointState::kDone: return "done";
    case PointState::kFailed: return "failed";
  }
  return "?";
}

PointStatus PlanRow(const SweepPoint& p) {
  PointStatus s;
  s.name = p.name;
  s.budget = p.budget;
  s.depth = p.depth;
  s.hidden_size = p.run.model().hidden_size();
  s.heads = p.run.model().num_attention_heads();
  s.n_total = p.scale.n_total;
  s.n_activated = p.scale.n_activated;
  s.m = p.scale.m;
  s.tokens = p.tokens;
  s.steps = p.steps;
  s.batch_seqs = p.batch_seqs;
  s.seq_len = p.run.train().seq_len();
  s.lr = p.lr;
  s.est_seconds = p.est_seconds;
  return s;
}

absl::Status WritePlanCsv(const std::string& path, const std::vector<PointStatus>& rows) {
  std::string text = Header(false) + "\n";
  for (const PointStatus& p : rows) absl::StrAppend(&text, PlanFields(p), "\n");
  return io::WriteFileAtomically(path, text);
}

absl::Status WriteResultsCsv(const std::string& path, const std::vector<PointStatus>& rows) {
  std::string text = Header(true) + "\n";
  for (const PointStatus& p : rows) {
    if (p.state != PointState::kDone && p.state != PointState::kFailed) continue;
    absl::StrAppendFormat(&text, "%s,%s,%d,%.9g,%.9g,%.9g,%.3f\n", PlanFields(p),
                          PointStateName(p.state), p.attempts, p.eval_loss, p.train_loss,
                          p.metric, p.seconds);
  }
  return io::WriteFileAtomically(path, text);
}

absl::StatusOr<std::vector<PointStatus>> ReadPlanCsv(const std::string& path) {
  return ReadCsv(path, false);
}

absl::StatusOr<std::vector<PointStatus>> ReadResultsCsv(const std::string& path) {
  return ReadCsv(path, true);
}

absl::Status WriteResultJson(const std::string& point_dir, const PointStatus& p) {
  nlohmann::json j = {{"state", PointStateName(p.state)}, {"attempts", p.attempts},
                      {"eval_loss", p.eval_loss},         {"train_loss", p.train_loss},
                      {"metric", p.metric},               {"seconds", p.seconds},
                      {"error", p.error}};
  return io::WriteFileAtomically((fs::path(point_dir) / "result.json").string(),
                                 j.dump(2) + "\n");
}

absl::Status ReadTrainMetrics(const std::string& point_dir, PointStatus* p) {
  const std::string path = (fs::path(point_dir) / "metrics.jsonl").string();
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": missing"));
  std::map<int64_t, nlohmann::json> by_step;  // a resumed run re-logs steps: last wins
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") ||
        !j["step"].is_number_integer()) {
      continue;  // a torn last line
    }
    const int64_t step = j["step"].get<int64_t>();
    by_step[step] = std::move(j);
  }
  if (by_step.empty()) return absl::NotFoundError(absl::StrCat(path, ": no step records"));
  p->step = by_step.rbegin()->first;
  p->eval_loss = -1;
  for (auto it = by_step.rbegin(); it != by_step.rend(); ++it) {
    if (it->second.contains("eval_loss") && it->second["eval_loss"].is_number()) {
      if (it->first == p->step) p->eval_loss = it->second["eval_loss"].get<double>();
      break;
    }
  }
  const int64_t tail = std::max<int64_t>(1, (p->steps > 0 ? p->steps : p->step) / 20);
  double sum = 0;
  int64_t n = 0;
  for (auto it = by_step.rbegin(); it != by_step.rend() && n < tail; ++it) {
    if (it->second.contains("loss") && it->second["loss"].is_number()) {
      sum += it->second["loss"].get<double>();
      ++n;
    }
  }
  p->train_loss = n > 0 ? sum / double(n) : -1;
  return absl::OkStatus();
}

void ReadPointState(const std::string& point_dir, PointStatus* p) {
  const fs::path dir(point_dir);
  (void)ReadTrainMetrics(point_dir, p);
  auto result = io::ReadFileToString((dir / "result.json").string());
  if (result.ok()) {
    auto j = nlohmann::json::parse(*result, nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
      p->state = j.value("state", "") == "done" ? PointState::kDone : PointState::kFailed;
      p->attempts = j.value("attempts", int64_t{0});
      p->eval_loss = j.value("eval_loss", -1.0);
      p->train_loss = j.value("train_loss", -1.0);
      p->metric = j.value("metric", -1.0);
      p->seconds = j.value("seconds", 0.0);
      p->error = j.value("error", "");
      return;
    }
  }
  auto pid_text = io::ReadFileToString((dir / "sweep.pid").string());
  int64_t pid = 0;
  if (pid_text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &pid) &&
      ProcessAlive(pid)) {
    p->state = PointState::kRunning;
    return;
  }
  std::error_code ec;
  const bool started = fs::exists(dir / "metrics.jsonl", ec) || fs::exists(dir / "checkpoints", ec);
  p->state = started ? PointState::kInterrupted : PointState::kPending;
}

absl::StatusOr<std::vector<PointStatus>> ReadSweepStatus(const std::string& dir) {
  const std::string plan = (fs::path(dir) / "plan.csv").string();
  if (!fs::exists(plan)) {
    return absl::NotFoundError(absl::StrCat(dir, ": no plan.csv (not a sweep directory; "
                                            "`hai sweep run --config S --dir ", dir, "` makes one)"));
  }
  HS_ASSIGN_OR_RETURN(std::vector<PointStatus> points, ReadPlanCsv(plan));
  for (PointStatus& p : points) ReadPointState((fs::path(dir) / p.name).string(), &p);
  return points;
}

std::string FormatStatusTable(const std::vector<PointStatus>& points) {
  std::string out = absl::StrFormat("%-28s %-11s %13s %8s %10s %10s  %s\n", "point", "state",
                                    "step", "attempts", "eval_loss", "metric", "note");
  std::map<PointState, int> count;
  for (const PointStatus& p : points) {
    ++count[p.state];
    absl::StrAppendFormat(&out, "%-28s %-11s %6d/%-6d %8d %10s %10s  %s\n", p.name,
                          PointStateName(p.state), p.step, p.steps, p.attempts,
                          p.eval_loss >= 0 ? absl::StrFormat("%.4f", p.eval_loss) : "-",
                          p.metric >= 0 ? absl::StrFormat("%.4f", p.metric) : "-",
                          p.error.substr(0, p.error.find('\n')));
  }
  absl::StrAppendFormat(&out, "%d points: %d done, %d running, %d interrupted, %d pending, %d failed\n",
                        points.size(), count[PointState::kDone], count[PointState::kRunning],
                        count[PointState::kInterrupted], count[PointState::kPending],
                        count[PointState::kFailed]);
  return out;
}

}  // namespace hs::sweep
