// File: haiscale/sweep/fit_report.cc — see fit_report.h.
#include "haiscale/sweep/fit_report.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hs::sweep {
namespace {

std::string Law(const PowerLaw& l, const char* y) {
  if (!l.valid) return absl::StrCat(y, ": not fitted (needs 2 bracketed budgets)");
  std::string s = absl::StrFormat("%s = %.4g · C^%.4f", y, l.coef, l.exp);
  if (l.exp_lo != l.exp_hi) {
    absl::StrAppendFormat(&s, "  (95%% CI: exponent %.4f..%.4f, coefficient %.3g..%.3g)", l.exp_lo,
                          l.exp_hi, l.coef_lo, l.coef_hi);
  }
  absl::StrAppendFormat(&s, ", %d budgets", l.points);
  return s;
}

std::string Exp(const PowerLaw& l) {
  if (!l.valid) return "—";
  if (l.exp_lo == l.exp_hi) return absl::StrFormat("%.4f", l.exp);
  return absl::StrFormat("%.4f [%.3f, %.3f]", l.exp, l.exp_lo, l.exp_hi);
}

}  // namespace

std::vector<FitPoint> FitPointsFromResults(const std::vector<PointStatus>& rows) {
  std::vector<FitPoint> out;
  for (const PointStatus& r : rows) {
    if (r.state != PointState::kDone || !(r.metric > 0)) continue;
    FitPoint p;
    p.budget = r.budget;
    p.m = r.m;
    p.tokens = double(r.tokens);
    p.loss = r.metric;
    p.batch_tokens = double(r.batch_seqs * r.seq_len);
    p.lr = r.lr;
    out.push_back(p);
  }
  return out;
}

std::string FitReportMarkdown(const std::string& dir, const std::string& metric_name,
                              const std::vector<PointStatus>& rows, const FitResult& fit) {
  std::string md = absl::StrCat("# Scaling-law fit of `", dir, "`\n\n");
  absl::StrAppend(&md, "Metric: ", metric_name,
                  ". M = non-embedding FLOPs per token, D = tokens trained, C = M·D "
                  "(docs/scaling.md).\n\n");
  absl::StrAppend(&md, "## Points\n\n| point | C | M | N total | N activated | D | steps | B (tokens) | lr | ",
                  metric_name, " | state |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const PointStatus& r : rows) {
    absl::StrAppendFormat(&md, "| %s | %.3g | %.4g | %d | %d | %d | %d | %d | %.3g | %s | %s |\n",
                          r.name, r.budget, r.m, r.n_total, r.n_activated, r.tokens, r.steps,
                          r.batch_seqs * r.seq_len, r.lr,
                          r.metric > 0 ? absl::StrFormat("%.4f", r.metric) : "—",
                          PointStateName(r.state));
  }
  absl::StrAppend(&md, "\n## IsoFLOP parabolas (", metric_name,
                  " = a·(ln M)² + b·ln M + c per budget)\n\n"
                  "| C | sizes | M_opt | D_opt | ", metric_name,
                  " at M_opt | used |\n|---|---|---|---|---|---|\n");
  for (const BudgetFit& b : fit.budgets) {
    absl::StrAppendFormat(&md, "| %.3g | %d | %s | %s | %s | %s |\n", b.budget, b.points,
                          b.m_opt > 0 ? absl::StrFormat("%.4g", b.m_opt) : "—",
                          b.m_opt > 0 ? absl::StrFormat("%.4g", b.d_opt) : "—",
                          b.m_opt > 0 ? absl::StrFormat("%.4f", b.loss_opt) : "—",
                          b.bracketed ? "yes" : absl::StrCat("no: ", b.note));
  }
  absl::StrAppend(&md, "\n## Power laws (least squares in log space, ", fit.bootstrap,
                  " residual-bootstrap resamples)\n\n");
  absl::StrAppend(&md, "- ", Law(fit.m_opt, "M_opt"), "\n- ", Law(fit.d_opt, "D_opt"), "\n- ",
                  Law(fit.loss_opt, "L_opt"), "\n\n");
  absl::StrAppend(&md,
                  "| | M_opt exponent a | D_opt exponent b |\n|---|---|---|\n"
                  "| this sweep | ", Exp(fit.m_opt), " | ", Exp(fit.d_opt), " |\n",
                  "| DeepSeek LLM (M, OpenWebText2-like data) | 0.5243 | 0.4757 |\n"
                  "| Chinchilla approach 2 (N) | 0.49 | 0.51 |\n\n");
  if (fit.grid) {
    absl::StrAppend(&md, "## Near-optimal hyper-parameters (within 0.25% of each budget's best)\n\n");
    absl::StrAppend(&md, "- ", Law(fit.batch_opt, "B_opt (tokens)"), "\n- ",
                    Law(fit.lr_opt, "η_opt"),
                    "\n- DeepSeek LLM: B_opt = 0.2920·C^0.3271, η_opt = 0.3118·C^−0.1250\n\n");
    absl::StrAppend(&md, "| C | band points | best ", metric_name, " |\n|---|---|---|\n");
    for (const BudgetFit& b : fit.budgets) {
      absl::StrAppendFormat(&md, "| %.3g | %d | %.4f |\n", b.budget, b.band_points, b.best_loss);
    }
    absl::StrAppend(&md, "\n![near-optimal band](band.png)\n\n");
  }
  absl::StrAppend(&md,
                  "## Plots\n\n![IsoFLOP curves](isoflop.png)\n\n"
                  "![M_opt and D_opt against C](optimal.png)\n\n"
                  "![loss against C](loss.png)\n");
  return md;
}

}  // namespace hs::sweep
