// File: haiscale/train/step_log.cc — see step_log.h.
#include "haiscale/train/step_log.h"

#include <cerrno>
#include <cmath>

#include "absl/strings/str_format.h"
#include "haiscale/status.h"

namespace hs::train {

std::string FormatDuration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return absl::StrFormat("%dh%02dm", t / 3600, (t / 60) % 60);
  if (t >= 60) return absl::StrFormat("%dm%02ds", t / 60, t % 60);
  return absl::StrFormat("%ds", t);
}

namespace {

std::string Si(double v) {
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e3) return absl::StrFormat("%.1fK", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

// JSON has no NaN/inf: write null so the file stays parseable.
std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.9g", v);
}

}  // namespace

absl::StatusOr<std::unique_ptr<StepLog>> StepLog::Open(const std::string& path,
                                                       bool live, bool append,
                                                       const std::string& text_log_path,
                                                       const std::string& tensorboard_dir) {
  std::unique_ptr<StepLog> log(new StepLog());
  log->live_ = live;
  log->path_ = path;
  if (!path.empty()) {
    log->jsonl_ = std::fopen(path.c_str(), append ? "a" : "w");
    if (log->jsonl_ == nullptr) return ErrnoToStatus(errno, "opening " + path);
  }
  if (!text_log_path.empty()) {
    log->text_ = std::fopen(text_log_path.c_str(), append ? "a" : "w");
    if (log->text_ == nullptr) return ErrnoToStatus(errno, "opening " + text_log_path);
  }
  if (!tensorboard_dir.empty()) {
    auto tb = metrics::TensorBoardWriter::Open(tensorboard_dir);
    if (!tb.ok()) return tb.status();
    log->tb_ = *std::move(tb);
  }
  return log;
}

StepLog::~StepLog() {
  Finish();
  if (jsonl_ != nullptr) std::fclose(jsonl_);
  if (text_ != nullptr) std::fclose(text_);
}

void StepLog::Note(const std::string& line) {
  Finish();
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
  if (text_ != nullptr) {
    std::fprintf(text_, "%s\n", line.c_str());
    std::fflush(text_);
  }
}

std::string StepLog::FormatLine(const StepMetrics& m) {
  int width = int(absl::StrFormat("%d", m.total_steps).size());
  std::string line = absl::StrFormat(
      "step %*d/%d | loss %.4f | aux %.4f | lr %.2e | gnorm %.3f | %s | %s tok/s | "
      "%.1f GFLOP/s | MFU %.1f%%",
      width, m.step, m.total_steps, m.loss, m.aux_loss, m.lr, m.grad_norm,
      m.step_seconds >= 1 ? absl::StrFormat("%.2f s", m.step_seconds)
                          : absl::StrFormat("%.0f ms", m.step_seconds * 1e3),
      Si(m.tokens_per_s), m.gflops, 100 * m.mfu);
  if (m.max_expert_load > 0) line += absl::StrFormat(" | load %.2f", m.max_expert_load);
  if (m.dp > 1) {
    line += absl::StrFormat(" | compute %.0f ms | exposed-comm %.1f ms | overlap %.0f%%",
                            m.compute_seconds * 1e3, m.exposed_comm_seconds * 1e3, 100 * m.overlap);
  }
  if (m.pp > 1) line += absl::StrFormat(" | bubble %.0f%%", 100 * m.bubble);
  if (m.a2a_seconds > 0) line += absl::StrFormat(" | a2a %.1f ms", m.a2a_seconds * 1e3);
  if (m.eval_loss >= 0) {
    line += m.eval_perplexity
                ? absl::StrFormat(" | eval %.4f (ppl %.2f)", m.eval_loss, std::exp(m.eval_loss))
                : absl::StrFormat(" | eval %.4f", m.eval_loss);
  }
  for (const auto& [name, value] : m.objective) line += absl::StrFormat(" | %s %.4g", name, value);
  line += " | ETA " + FormatDuration(m.eta_seconds);
  return line;
}

std::string StepLog::FormatJson(const StepMetrics& m) {
  std::string objective;
  for (const auto& [name, value] : m.objective) {
    absl::StrAppend(&objective, ", \"", name, "\": ", Num(value));
  }
  return absl::StrFormat(
      "{\"step\": %d, \"loss\": %s, \"aux_loss\": %s, \"lr\": %s, \"grad_norm\": %s, "
      "\"tokens_per_s\": %s, \"step_seconds\": %s, \"gflops\": %s, \"mfu\": %s, "
      "\"max_expert_load\": %s, \"dp\": %d, \"compute_seconds\": %s, "
      "\"exposed_comm_seconds\": %s, \"overlap\": %s, \"pp\": %d, \"bubble\": %s, \"a2a_seconds\": %s%s%s%s}",
      m.step, Num(m.loss), Num(m.aux_loss), Num(m.lr), Num(m.grad_norm), Num(m.tokens_per_s),
      Num(m.step_seconds), Num(m.gflops), Num(m.mfu), Num(m.max_expert_load), m.dp,
      Num(m.compute_seconds), Num(m.exposed_comm_seconds), Num(m.overlap), m.pp, Num(m.bubble), Num(m.a2a_seconds),
      m.embedding_rows_reduced >= 0
          ? absl::StrFormat(", \"embedding_rows_reduced\": %s", Num(m.embedding_rows_reduced))
          : "",
      m.eval_loss >= 0 ? absl::StrFormat(", \"eval_loss\": %s, \"eval_tokens\": %d",
                                         Num(m.eval_loss), m.eval_tokens)
                       : "",
      objective);
}

absl::Status StepLog::Log(const StepMetrics& m, bool print) {
  if (jsonl_ != nullptr) {
    std::string rec = FormatJson(m) + "\n";
    if (std::fwrite(rec.data(), 1, rec.size(), jsonl_) != rec.size() ||
        std::fflush(jsonl_) != 0) {
      return ErrnoToStatus(errno, "appending to " + path_);
    }
  }
  if (text_ != nullptr && print) {
    std::fprintf(text_, "%s\n", FormatLine(m).c_str());
    std::fflush(text_);
  }
  if (tb_) {
    std::vector<std::pair<std::string, double>> scalars = {
        {"train/loss", m.loss},          {"train/aux_loss", m.aux_loss},
        {"train/lr", m.lr},              {"train/grad_norm", m.grad_norm},
        {"perf/tokens_per_s", m.tokens_per_s}, {"perf/mfu", m.mfu},
        {"perf/step_seconds", m.step_seconds}};
    if (m.max_expert_load > 0) scalars.push_back({"moe/max_expert_load", m.max_expert_load});
    if (m.dp > 1) {
      scalars.push_back({"comm/overlap", m.overlap});
      scalars.push_back({"comm/exposed_seconds", m.exposed_comm_seconds});
      if (m.embedding_rows_reduced >= 0) {
        scalars.push_back({"comm/embedding_rows_reduced", m.embedding_rows_reduced});
      }
    }
    if (m.pp > 1) scalars.push_back({"pipeline/bubble", m.bubble});
    if (m.a2a_seconds > 0) scalars.push_back({"comm/all_to_all_seconds", m.a2a_seconds});
    if (m.eval_loss >= 0) scalars.push_back({"eval/loss", m.eval_loss});
    for (const auto& [name, value] : m.objective) scalars.push_back({"objective/" + name, value});
    HS_RETURN_IF_ERROR(tb_->AddScalars(m.step, scalars));
  }
  if (live_) {
    // \r + clear-to-end-of-line keeps one line updating in place.
    std::fprintf(stdout, "\r\033[K%s", FormatLine(m).c_str());
    line_open_ = true;
    if (print) {
      std::fputc('\n', stdout);
      line_open_ = false;
    }
    std::fflush(stdout);
  } else if (print) {
    std::fprintf(stdout, "%s\n", FormatLine(m).c_str());
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

void StepLog::Finish() {
  if (line_open_) {
    std::fputc('\n', stdout);
    std::fflush(stdout);
    line_open_ = false;
  }
}

}  // namespace hs::train
