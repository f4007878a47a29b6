// File: haiscale/sweep/plan.cc — see plan.h.
#include "haiscale/sweep/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "haiscale/config/config.h"
#include "haiscale/status.h"
#include "haiscale/sweep/family.h"

namespace hs::sweep {
namespace {

std::string Compact(double v) {
  std::string s = absl::StrFormat("%.3g", v);
  return absl::StrReplaceAll(s, {{"e+0", "e"}, {"e+", "e"}, {"e-0", "e-"}});
}

std::string Si(double v) {
  if (v >= 1e9) return absl::StrFormat("%.2fG", v / 1e9);
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e3) return absl::StrFormat("%.1fK", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

// Largest divisor of n not above cap.
int64_t LargestDivisorAtMost(int64_t n, int64_t cap) {
  for (int64_t d = std::min(n, cap); d > 1; --d) {
    if (n % d == 0) return d;
  }
  return 1;
}

struct HyperChoice {
  double batch_tokens;
  double lr;
  bool grid;
};

std::vector<HyperChoice> HyperChoices(const HyperParams& h, double budget) {
  switch (h.rule()) {
    case HyperParams::FIXED:
      return {{h.batch_tokens(), h.lr(), false}};
    case HyperParams::GRID: {
      std::vector<HyperChoice> out;
      for (double b : h.grid_batch_tokens()) {
        for (double lr : h.grid_lr()) out.push_back({b, lr, true});
      }
      return out;
    }
    default:
      return {{h.batch_coef() * std::pow(budget, h.batch_exp()),
               h.lr_coef() * std::pow(budget, h.lr_exp()), false}};
  }
}

}  // namespace

std::string BudgetLabel(double c) { return Compact(c); }

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t t = std::llround(seconds);
  if (t >= 3600) return absl::StrFormat("%dh%02dm", t / 3600, (t / 60) % 60);
  if (t >= 60) return absl::StrFormat("%dm%02ds", t / 60, t % 60);
  return absl::StrFormat("%ds", t);
}

absl::StatusOr<std::vector<SweepPoint>> MakePlan(const Sweep& sweep) {
  const SweepConfig& c = sweep.config;
  const config::RunConfig& base = sweep.base;
  const int64_t seq = base.train().seq_len();
  const int64_t ranks = c.execution().ranks_per_run();
  const int64_t threads = c.execution().threads_per_run();
  const int64_t max_micro = c.hparams().max_micro_batch() > 0 ? c.hparams().max_micro_batch()
                            : base.train().micro_batch_size() > 0
                                ? base.train().micro_batch_size()
                                : int64_t{1} << 40;
  std::vector<SweepPoint> points;
  for (double budget : c.budgets()) {
    for (int64_t depth : FamilyDepths(c.family())) {
      for (const HyperChoice& hc : HyperChoices(c.hparams(), budget)) {
        SweepPoint p;
        p.budget = budget;
        p.depth = depth;
        p.name = absl::StrCat("c", BudgetLabel(budget), "_d", depth);
        if (hc.grid) {
          absl::StrAppend(&p.name, "_b", Compact(hc.batch_tokens), "_lr", Compact(hc.lr));
        }
        auto fail = [&](const std::string& why) {
          return absl::InvalidArgumentError(absl::StrCat("point ", p.name, ": ", why));
        };
        auto model = FamilyModel(base.model(), c.family(), depth);
        if (!model.ok()) return fail(std::string(model.status().message()));
        p.scale = ComputeModelScale(*model, seq);
        p.batch_tokens_target = hc.batch_tokens;
        p.batch_seqs = std::max<int64_t>(1, std::llround(hc.batch_tokens / double(seq)));
        p.batch_seqs = (p.batch_seqs + ranks - 1) / ranks * ranks;
        const double tokens_target = budget / p.scale.m;
        p.steps = std::llround(tokens_target / double(p.batch_seqs * seq));
        if (p.steps < 1) {
          return fail(absl::StrFormat(
              "steps < 1: the budget buys %.0f tokens (C / M = %g / %g) but one step of the "
              "batch is %d tokens (hparams batch or a larger budget)",
              tokens_target, budget, p.scale.m, p.batch_seqs * seq));
        }
        p.micro_batch = LargestDivisorAtMost(p.batch_seqs / ranks, max_micro);
        p.tokens = p.steps * p.batch_seqs * seq;
        p.lr = hc.lr;
        p.est_seconds = p.scale.m * double(p.tokens) /
                        (c.execution().gflops_per_thread() * 1e9 * double(threads * ranks));

        config::RunConfig& r = p.run;
        r = base;
        *r.mutable_model() = *model;
        config::TrainConfig* t = r.mutable_train();
        t->set_steps(p.steps);
        t->set_global_batch_size(p.batch_seqs);
        t->set_micro_batch_size(p.micro_batch);
        t->set_threads(threads);
        t->set_save_every(std::max<int64_t>(1, p.steps / c.execution().checkpoints_per_run()));
        t->clear_recompute_layers();
        r.mutable_parallel()->set_dp(ranks > 1 ? ranks : 0);
        r.mutable_parallel()->set_pp(0);
        r.mutable_parallel()->clear_pp_stage_layers();
        if (c.metric().kind() != Metric::TRAIN_LOSS) {
          t->set_eval_every(p.steps);  // once, after the last step
          if (c.metric().eval_batches() > 0) t->set_eval_batches(c.metric().eval_batches());
          if (!c.metric().eval_path().empty()) r.mutable_data()->set_eval_path(c.metric().eval_path());
        } else {
          t->set_eval_every(0);
        }
        r.mutable_optimizer()->set_lr(p.lr);
        config::ScheduleConfig* s = r.mutable_schedule();
        s->set_type(config::ScheduleConfig::MULTISTEP);
        s->set_warmup_steps(
            std::llround(std::ceil(c.hparams().warmup_fraction() * double(p.steps))));
        s->clear_milestones();
        s->clear_factors();
        s->add_milestones(0.8);
        s->add_milestones(0.9);
        s->add_factors(0.316);
        s->add_factors(0.1);
        absl::Status valid = config::ValidateConfig(r);
        if (!valid.ok()) return fail(std::string(valid.message()));
        for (const SweepPoint& q : points) {
          if (q.name == p.name) {
            return fail("two points get this name (and one run directory): budgets or grid "
                        "values that agree to 3 significant digits");
          }
        }
        points.push_back(std::move(p));
      }
    }
  }
  return points;
}

std::string FormatPlanTable(const Sweep& sweep, const std::vector<SweepPoint>& points,
                            bool measured) {
  std::string out = absl::StrFormat(
      "%-28s %8s %5s %6s %5s %9s %9s %9s %9s %7s %7s %9s %8s\n", "point", "C", "depth", "width",
      "heads", "N total", "N activ", "M", "D tokens", "steps", "B seqs", "lr", "time");
  double total = 0;
  for (const SweepPoint& p : points) {
    const config::ModelConfig& m = p.run.model();
    absl::StrAppendFormat(&out, "%-28s %8s %5d %6d %5d %9s %9s %9s %9s %7d %7d %9.3g %8s\n",
                          p.name, Compact(p.budget), p.depth, m.hidden_size(),
                          m.num_attention_heads(), Si(double(p.scale.n_total)),
                          Si(double(p.scale.n_activated)), Si(p.scale.m), Si(double(p.tokens)),
                          p.steps, p.batch_seqs, p.lr, FormatDuration(p.est_seconds));
    total += p.est_seconds;
  }
  const int64_t k = sweep.config.execution().parallel_runs();
  absl::StrAppendFormat(
      &out,
      "%d points; estimated %s of run time, about %s with %d at once (%d thread(s) x %d rank(s) "
      "each; %s)\n",
      points.size(), FormatDuration(total), FormatDuration(total / double(k)), k,
      sweep.config.execution().threads_per_run(), sweep.config.execution().ranks_per_run(),
      measured ? "times measured with hai bench train, one rank"
               : absl::StrFormat("%.1f GFLOP/s of M*D per thread: execution.gflops_per_thread, "
                                 "or measure with --measure",
                                 sweep.config.execution().gflops_per_thread()));
  const Metric& metric = sweep.config.metric();
  if (metric.kind() == Metric::BITS_PER_BYTE) {
    absl::StrAppendFormat(&out, "metric: bits per byte, %.4f bytes per token (%s)\n",
                          metric.bytes_per_token(),
                          metric.tokenizer().empty()
                              ? std::string("metric.bytes_per_token")
                              : absl::StrCat("measured on the held-out data with ",
                                             metric.tokenizer()));
  }
  return out;
}

}  // namespace hs::sweep
