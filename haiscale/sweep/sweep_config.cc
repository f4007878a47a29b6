// File: haiscale/sweep/sweep_config.cc — see sweep_config.h.
#include "haiscale/sweep/sweep_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "haiscale/sweep/bytes_per_token.h"

namespace hs::sweep {
namespace {

namespace fs = std::filesystem;

void CheckPositiveList(const google::protobuf::RepeatedField<double>& values,
                       const std::string& field, std::vector<std::string>* problems) {
  std::set<double> seen;
  for (int i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (!std::isfinite(v) || v <= 0) {
      problems->push_back(absl::StrCat(field, "[", i, "]: must be > 0, got ", v));
    } else if (!seen.insert(v).second) {
      problems->push_back(absl::StrCat(field, "[", i, "]: ", v, " appears twice"));
    }
  }
}

}  // namespace

void FillSweepDefaults(SweepConfig* config) {
  FamilyRule* f = config->mutable_family();
  if (!f->has_sizes_per_budget()) f->set_sizes_per_budget(5);
  if (!f->has_rank_multiple()) f->set_rank_multiple(8);
  HyperParams* h = config->mutable_hparams();
  if (!h->has_batch_coef()) h->set_batch_coef(0.2920);
  if (!h->has_batch_exp()) h->set_batch_exp(0.3271);
  if (!h->has_lr_coef()) h->set_lr_coef(0.3118);
  if (!h->has_lr_exp()) h->set_lr_exp(-0.1250);
  if (!h->has_warmup_fraction()) h->set_warmup_fraction(0.05);
  Metric* m = config->mutable_metric();
  if (!m->has_bytes_per_token() && m->tokenizer().empty()) m->set_bytes_per_token(1.0);
  Execution* e = config->mutable_execution();
  if (!e->has_parallel_runs()) e->set_parallel_runs(1);
  if (!e->has_threads_per_run()) e->set_threads_per_run(1);
  if (!e->has_ranks_per_run()) e->set_ranks_per_run(1);
  if (!e->has_checkpoints_per_run()) e->set_checkpoints_per_run(10);
  if (!e->has_max_attempts()) e->set_max_attempts(2);
  if (!e->has_gflops_per_thread()) e->set_gflops_per_thread(4.0);
}

std::vector<int64_t> FamilyDepths(const FamilyRule& rule) {
  std::vector<int64_t> depths(rule.depths().begin(), rule.depths().end());
  if (depths.empty() && rule.min_depth() > 0 && rule.max_depth() >= rule.min_depth()) {
    const int64_t n = std::max<int64_t>(rule.sizes_per_budget(), 1);
    for (int64_t i = 0; i < n; ++i) {
      const double t = n == 1 ? 0.0 : double(i) / double(n - 1);
      depths.push_back(std::llround(double(rule.min_depth()) +
                                    t * double(rule.max_depth() - rule.min_depth())));
    }
  }
  std::sort(depths.begin(), depths.end());
  depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
  return depths;
}

absl::Status ValidateSweep(const Sweep& sweep) {
  const SweepConfig& c = sweep.config;
  std::vector<std::string> p;
  if (c.budgets().empty()) p.push_back("budgets: at least one compute budget is required");
  CheckPositiveList(c.budgets(), "budgets", &p);

  const FamilyRule& f = c.family();
  if (!f.depths().empty() && (f.min_depth() != 0 || f.max_depth() != 0)) {
    p.push_back("family.depths: give either depths or min_depth/max_depth, not both");
  }
  std::set<int64_t> seen;
  for (int i = 0; i < f.depths().size(); ++i) {
    if (f.depths(i) < 1) p.push_back(absl::StrCat("family.depths[", i, "]: must be >= 1, got ", f.depths(i)));
    if (!seen.insert(f.depths(i)).second) {
      p.push_back(absl::StrCat("family.depths[", i, "]: ", f.depths(i), " appears twice"));
    }
  }
  if (f.depths().empty()) {
    if (f.min_depth() < 1) {
      p.push_back("family.min_depth: must be >= 1 (or list family.depths)");
    } else if (f.max_depth() < f.min_depth()) {
      p.push_back(absl::StrCat("family.max_depth: must be >= min_depth (", f.min_depth(), "), got ",
                               f.max_depth()));
    }
    if (f.sizes_per_budget() < 2) {
      p.push_back(absl::StrCat("family.sizes_per_budget: must be >= 2, got ", f.sizes_per_budget()));
    } else if (f.max_depth() - f.min_depth() + 1 < f.sizes_per_budget() && f.min_depth() >= 1) {
      p.push_back(absl::StrCat("family.sizes_per_budget: ", f.sizes_per_budget(),
                               " distinct depths do not fit in [", f.min_depth(), ", ",
                               f.max_depth(), "]"));
    }
  }
  if (f.has_aspect_ratio() && !(f.aspect_ratio() > 0)) {
    p.push_back(absl::StrCat("family.aspect_ratio: must be > 0, got ", f.aspect_ratio()));
  }
  if (f.rank_multiple() < 1) {
    p.push_back(absl::StrCat("family.rank_multiple: must be >= 1, got ", f.rank_multiple()));
  }

  const HyperParams& h = c.hparams();
  switch (h.rule()) {
    case HyperParams::DEEPSEEK_LLM:
      if (!(h.batch_coef() > 0)) p.push_back("hparams.batch_coef: must be > 0");
      if (!(h.lr_coef() > 0)) p.push_back("hparams.lr_coef: must be > 0");
      break;
    case HyperParams::FIXED:
      if (!(h.batch_tokens() > 0)) p.push_back("hparams.batch_tokens: must be > 0 with rule FIXED");
      if (!(h.lr() > 0)) p.push_back("hparams.lr: must be > 0 with rule FIXED");
      break;
    case HyperParams::GRID:
      if (h.grid_batch_tokens().empty()) p.push_back("hparams.grid_batch_tokens: required with rule GRID");
      if (h.grid_lr().empty()) p.push_back("hparams.grid_lr: required with rule GRID");
      CheckPositiveList(h.grid_batch_tokens(), "hparams.grid_batch_tokens", &p);
      CheckPositiveList(h.grid_lr(), "hparams.grid_lr", &p);
      break;
    default:
      p.push_back(absl::StrCat("hparams.rule: unknown value ", int(h.rule())));
  }
  if (h.rule() != HyperParams::GRID &&
      (!h.grid_batch_tokens().empty() || !h.grid_lr().empty())) {
    p.push_back("hparams.grid_batch_tokens: only used with rule GRID");
  }
  if (h.max_micro_batch() < 0) p.push_back("hparams.max_micro_batch: must be >= 0");
  if (!(h.warmup_fraction() >= 0 && h.warmup_fraction() < 0.8)) {
    p.push_back(absl::StrCat("hparams.warmup_fraction: must be in [0, 0.8), got ", h.warmup_fraction()));
  }

  const Metric& m = c.metric();
  if (!m.tokenizer().empty() && m.has_bytes_per_token()) {
    p.push_back("metric.bytes_per_token: set it or metric.tokenizer (which measures it), not both");
  } else if (m.tokenizer().empty() && !(m.bytes_per_token() > 0)) {
    p.push_back("metric.bytes_per_token: must be > 0");
  }
  if (!m.tokenizer().empty() && m.kind() != Metric::BITS_PER_BYTE) {
    p.push_back("metric.tokenizer: only used with metric.kind BITS_PER_BYTE");
  }
  if (m.eval_batches() < 0) p.push_back("metric.eval_batches: must be >= 0");
  if (m.kind() != Metric::TRAIN_LOSS && m.eval_path().empty() && sweep.base.data().eval_path().empty()) {
    p.push_back("metric.eval_path: the metric needs held-out data: set metric.eval_path or "
                "base data.eval_path (or metric.kind TRAIN_LOSS)");
  }

  const Execution& e = c.execution();
  if (e.parallel_runs() < 1) p.push_back(absl::StrCat("execution.parallel_runs: must be >= 1, got ", e.parallel_runs()));
  if (e.threads_per_run() < 1) p.push_back(absl::StrCat("execution.threads_per_run: must be >= 1, got ", e.threads_per_run()));
  if (e.ranks_per_run() < 1) p.push_back(absl::StrCat("execution.ranks_per_run: must be >= 1, got ", e.ranks_per_run()));
  if (e.checkpoints_per_run() < 1) p.push_back(absl::StrCat("execution.checkpoints_per_run: must be >= 1, got ", e.checkpoints_per_run()));
  if (e.max_attempts() < 1) p.push_back(absl::StrCat("execution.max_attempts: must be >= 1, got ", e.max_attempts()));
  if (!(e.gflops_per_thread() > 0)) p.push_back("execution.gflops_per_thread: must be > 0");

  absl::Status base = config::ValidateConfig(sweep.base);
  if (!base.ok()) {
    for (absl::string_view line : absl::StrSplit(base.message(), '\n')) {
      if (!line.empty()) p.push_back(absl::StrCat("base.", line));
    }
  }
  if (p.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(p, "\n"));
}

absl::StatusOr<Sweep> ParseSweepText(const std::string& text, const std::string& source_name,
                                     const std::string& base_dir) {
  Sweep sweep;
  sweep.source = source_name;
  HS_RETURN_IF_ERROR(config::ParseTextMessage(text, source_name, &sweep.config));
  const bool has_file = !sweep.config.base_config().empty();
  const bool has_inline = sweep.config.has_base();
  if (has_file == has_inline) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_name, ": base_config: exactly one of base_config (a file) and base { ... } is required"));
  }
  if (has_file) {
    fs::path path(sweep.config.base_config());
    if (path.is_relative()) path = fs::path(base_dir) / path;
    auto base = config::LoadConfig(path.lexically_normal().string());
    if (!base.ok()) return Annotate(base.status(), source_name, ": base_config");
    sweep.base = *std::move(base);
  } else {
    sweep.base = sweep.config.base();
    config::FillDefaults(&sweep.base);
  }
  for (int i = 0; i < sweep.config.base_overrides().size(); ++i) {
    absl::Status s = config::ApplyOverride(&sweep.base, sweep.config.base_overrides(i));
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, ": base_overrides[", i, "]: ", s.message()));
    }
  }
  FillSweepDefaults(&sweep.config);
  absl::Status valid = ValidateSweep(sweep);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, " is invalid:\n", valid.message()));
  }
  Metric* metric = sweep.config.mutable_metric();
  if (!metric->tokenizer().empty()) {
    // Relative paths as hai train reads them: from the working directory.
    const std::string eval_path =
        metric->eval_path().empty() ? sweep.base.data().eval_path() : metric->eval_path();
    auto measured = MeasureBytesPerToken(metric->tokenizer(), eval_path);
    if (!measured.ok()) return Annotate(measured.status(), source_name, ": metric.tokenizer");
    metric->set_bytes_per_token(*measured);
  }
  return sweep;
}

absl::StatusOr<Sweep> LoadSweep(const std::string& path) {
  HS_ASSIGN_OR_RETURN(std::string text, io::ReadFileToString(path));
  return ParseSweepText(text, path, fs::path(path).parent_path().string());
}

}  // namespace hs::sweep
