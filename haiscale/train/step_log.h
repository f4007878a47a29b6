// File: haiscale/train/step_log.h
//
// Per-step reporting of `hai train`: a live progress line on a terminal
// (rewritten in place), plain fixed-column lines otherwise, and one JSON
// object per step appended to <output_dir>/metrics.jsonl.
//
//   step   12/300 | loss 4.1235 | aux 0.0101 | lr 3.00e-03 | gnorm 1.234 |
//   412 ms | 9.9K tok/s | 31.2 GFLOP/s | MFU 10.6% | ETA 1m58s
#ifndef HAISCALE_TRAIN_STEP_LOG_H_
#define HAISCALE_TRAIN_STEP_LOG_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/metrics/tensorboard.h"

namespace hs::train {

struct StepMetrics {
  int64_t step = 0;          // 1-based for display and JSON
  int64_t total_steps = 0;
  double loss = 0;           // mean next-token cross-entropy
  double aux_loss = 0;       // sum of MoE balance losses
  double lr = 0;
  double grad_norm = 0;      // before clipping
  double step_seconds = 0;
  double tokens_per_s = 0;
  double gflops = 0;         // achieved model FLOP/s (training FLOPs)
  double mfu = 0;            // gflops / peak
  double eta_seconds = 0;
  double max_expert_load = 0;  // max/mean tokens per routed expert (0: dense)
  // Data parallel (0 when single-process):
  double compute_seconds = 0;  // forward + backward on this rank
  double exposed_comm_seconds = 0;  // waiting for gradient reduction after backward
  double overlap = 0;          // share of gradient communication hidden behind backward
  int dp = 1;
  // Row-sparse embedding gradient (parallel/sparse_rows.h): the share of
  // its rows this step reduced (1 when it fell back to dense); < 0 when
  // not row-sparse.
  double embedding_rows_reduced = -1;
  // Pipeline (pp > 1): measured bubble fraction, mean over ranks.
  int pp = 1;
  double bubble = 0;
  // Expert parallel: time blocked in all-to-alls on rank 0.
  double a2a_seconds = 0;
  // Held-out evaluation (train.eval_every): mean next-token cross-entropy
  // on data.eval_path after this step's update; < 0 when not evaluated.
  double eval_loss = -1;
  int64_t eval_tokens = 0;
  bool eval_perplexity = true;  // eval_loss is a cross-entropy (show its perplexity)
  // The objective's own metrics (name, value), e.g. SFT's token_accuracy
  // or DPO's rewards/margins: in the step line, the JSONL record and
  // TensorBoard (as objective/<name>).
  std::vector<std::pair<std::string, double>> objective;
};

class StepLog {
 public:
  // Open(jsonl_path, live, append): live = rewrite one line on a terminal;
  // append keeps earlier records (a resumed run), otherwise the file starts
  // empty. An empty path writes no JSONL.
  // text_log_path (optional) gets every printed line too: the run
  // directory's human-readable train.log. tensorboard_dir (optional) gets
  // TensorBoard scalars of every step.
  static absl::StatusOr<std::unique_ptr<StepLog>> Open(const std::string& jsonl_path,
                                                       bool live, bool append = true,
                                                       const std::string& text_log_path = "",
                                                       const std::string& tensorboard_dir = "");
  ~StepLog();

  // Log(m, print): appends JSON (every step) and prints when `print`.
  absl::Status Log(const StepMetrics& m, bool print);
  // Finish(): ends a live line with a newline.
  void Finish();
  // Note(line): prints a line (stdout) and appends it to the text log.
  void Note(const std::string& line);

  // FormatLine(m): the human-readable line (no newline).
  static std::string FormatLine(const StepMetrics& m);
  // FormatJson(m): the JSONL record (no newline).
  static std::string FormatJson(const StepMetrics& m);

 private:
  StepLog() = default;
  FILE* jsonl_ = nullptr;
  FILE* text_ = nullptr;
  std::unique_ptr<metrics::TensorBoardWriter> tb_;
  std::string path_;
  bool live_ = false;
  bool line_open_ = false;
};

// FormatDuration(seconds): "1h02m", "3m05s", "42s".
std::string FormatDuration(double seconds);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_STEP_LOG_H_
