// File: haiscale/sweep/fit.cc — see fit.h.
#include "haiscale/sweep/fit.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "haiscale/rng.h"
#include "nlohmann/json.hpp"

namespace hs::sweep {
namespace {

// Percentile (0..1) of a sorted copy of v.
double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

size_t Distinct(const std::vector<double>& x) { return std::set<double>(x.begin(), x.end()).size(); }

// The parabola's vertex, or false when it opens downwards.
struct Vertex {
  double x, y;
};
bool VertexOf(double a, double b, double c, Vertex* v) {
  if (!(a > 0)) return false;
  v->x = -b / (2 * a);
  v->y = c - b * b / (4 * a);
  return std::isfinite(v->x) && std::isfinite(v->y);
}

// Power law through (ln C, ln y) pairs.
bool FitLog(const std::vector<double>& ln_c, const std::vector<double>& ln_y, double* coef,
            double* exp) {
  double intercept = 0;
  if (!FitLine(ln_c, ln_y, &intercept, exp)) return false;
  *coef = std::exp(intercept);
  return true;
}

void SetIntervals(PowerLaw* law, const std::vector<double>& coefs, const std::vector<double>& exps) {
  law->samples.clear();
  for (size_t i = 0; i < coefs.size(); ++i) law->samples.emplace_back(coefs[i], exps[i]);
  law->coef_lo = law->coef_hi = law->coef;
  law->exp_lo = law->exp_hi = law->exp;
  if (coefs.size() < 20) return;
  law->coef_lo = Percentile(coefs, 0.025);
  law->coef_hi = Percentile(coefs, 0.975);
  law->exp_lo = Percentile(exps, 0.025);
  law->exp_hi = Percentile(exps, 0.975);
}

nlohmann::json LawJson(const PowerLaw& l) {
  if (!l.valid) return nullptr;
  return {{"coef", l.coef},       {"exp", l.exp},       {"coef_ci95", {l.coef_lo, l.coef_hi}},
          {"exp_ci95", {l.exp_lo, l.exp_hi}}, {"points", l.points},
          {"bootstrap", l.samples}};
}

}  // namespace

bool FitParabola(const std::vector<double>& x, const std::vector<double>& y, double* a, double* b,
                 double* c) {
  if (x.size() != y.size() || Distinct(x) < 3) return false;
  // Centre x for conditioning, solve the 3x3 normal equations, uncentre.
  double mean = 0;
  for (double v : x) mean += v;
  mean /= double(x.size());
  double s[5] = {0, 0, 0, 0, 0}, t[3] = {0, 0, 0};
  for (size_t i = 0; i < x.size(); ++i) {
    const double u = x[i] - mean;
    double p = 1;
    for (int k = 0; k < 5; ++k, p *= u) s[k] += p;
    t[0] += y[i];
    t[1] += u * y[i];
    t[2] += u * u * y[i];
  }
  // [s0 s1 s2; s1 s2 s3; s2 s3 s4] [c0 c1 c2]^T = t, by Cramer's rule.
  const double m[3][3] = {{s[0], s[1], s[2]}, {s[1], s[2], s[3]}, {s[2], s[3], s[4]}};
  auto det3 = [](const double q[3][3]) {
    return q[0][0] * (q[1][1] * q[2][2] - q[1][2] * q[2][1]) -
           q[0][1] * (q[1][0] * q[2][2] - q[1][2] * q[2][0]) +
           q[0][2] * (q[1][0] * q[2][1] - q[1][1] * q[2][0]);
  };
  const double d = det3(m);
  if (!(std::fabs(d) > 0)) return false;
  double coef[3];
  for (int col = 0; col < 3; ++col) {
    double q[3][3];
    for (int r = 0; r < 3; ++r) {
      for (int k = 0; k < 3; ++k) q[r][k] = k == col ? t[r] : m[r][k];
    }
    coef[col] = det3(q) / d;
  }
  // y = c0 + c1 u + c2 u^2 with u = x - mean.
  *a = coef[2];
  *b = coef[1] - 2 * coef[2] * mean;
  *c = coef[0] - coef[1] * mean + coef[2] * mean * mean;
  return true;
}

bool FitLine(const std::vector<double>& x, const std::vector<double>& y, double* intercept,
             double* slope) {
  if (x.size() != y.size() || Distinct(x) < 2) return false;
  const double n = double(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  *slope = sxy / sxx;
  *intercept = my - *slope * mx;
  return true;
}

absl::StatusOr<FitResult> FitSweep(const std::vector<FitPoint>& points, const FitOptions& options) {
  FitResult fit;
  fit.bootstrap = options.bootstrap;
  std::map<double, std::vector<FitPoint>> by_budget;
  for (const FitPoint& p : points) {
    if (p.budget > 0 && p.m > 0 && std::isfinite(p.loss)) by_budget[p.budget].push_back(p);
  }
  // Per budget: the best loss of each model size (a grid sweep has several).
  struct Curve {
    double budget;
    std::vector<double> x, y, fitted, resid;
    double scale = 1;
    size_t budget_index;
  };
  std::vector<Curve> curves;
  for (auto& [budget, pts] : by_budget) {
    BudgetFit bf;
    bf.budget = budget;
    std::map<double, double> best;  // M -> loss
    double best_loss = pts[0].loss;
    for (const FitPoint& p : pts) {
      auto it = best.find(p.m);
      if (it == best.end() || p.loss < it->second) best[p.m] = p.loss;
      best_loss = std::min(best_loss, p.loss);
    }
    if (best.size() < pts.size()) fit.grid = true;
    bf.points = int64_t(best.size());
    bf.best_loss = best_loss;
    bf.m_min = best.begin()->first;
    bf.m_max = best.rbegin()->first;
    Curve cv;
    cv.budget = budget;
    for (auto& [m, loss] : best) {
      cv.x.push_back(std::log(m));
      cv.y.push_back(loss);
    }
    Vertex v;
    if (!FitParabola(cv.x, cv.y, &bf.a, &bf.b, &bf.c)) {
      bf.note = "fewer than 3 model sizes";
    } else if (!VertexOf(bf.a, bf.b, bf.c, &v)) {
      bf.note = "the loss curve opens downwards (no minimum)";
    } else {
      bf.m_opt = std::exp(v.x);
      bf.d_opt = budget / bf.m_opt;
      bf.loss_opt = v.y;
      if (bf.m_opt < bf.m_min || bf.m_opt > bf.m_max) {
        bf.note = absl::StrFormat("minimum at M = %.3g lies outside the sampled %.3g..%.3g",
                                  bf.m_opt, bf.m_min, bf.m_max);
      } else {
        bf.bracketed = true;
        for (size_t i = 0; i < cv.x.size(); ++i) {
          cv.fitted.push_back(bf.a * cv.x[i] * cv.x[i] + bf.b * cv.x[i] + bf.c);
          cv.resid.push_back(cv.y[i] - cv.fitted.back());
        }
        const double n = double(cv.x.size());
        cv.scale = n > 3 ? std::sqrt(n / (n - 3)) : 1.0;
        cv.budget_index = fit.budgets.size();
        curves.push_back(cv);
      }
    }
    fit.budgets.push_back(bf);
  }
  if (fit.budgets.empty()) return absl::InvalidArgumentError("no finished points to fit");
  bool any_parabola = false;
  for (const BudgetFit& bf : fit.budgets) any_parabola |= bf.points >= 3;
  if (!any_parabola) {
    return absl::InvalidArgumentError("no budget has 3 distinct model sizes: nothing to fit");
  }

  // Power laws over the bracketed budgets, with a residual bootstrap.
  auto fit_laws = [](const std::vector<double>& ln_c, const std::vector<double>& ln_m,
                     const std::vector<double>& ln_d, const std::vector<double>& ln_l,
                     PowerLaw* m, PowerLaw* d, PowerLaw* l) {
    return FitLog(ln_c, ln_m, &m->coef, &m->exp) && FitLog(ln_c, ln_d, &d->coef, &d->exp) &&
           FitLog(ln_c, ln_l, &l->coef, &l->exp);
  };
  if (curves.size() >= 2) {
    std::vector<double> ln_c, ln_m, ln_d, ln_l;
    for (const Curve& cv : curves) {
      const BudgetFit& bf = fit.budgets[cv.budget_index];
      ln_c.push_back(std::log(bf.budget));
      ln_m.push_back(std::log(bf.m_opt));
      ln_d.push_back(std::log(bf.d_opt));
      ln_l.push_back(std::log(bf.loss_opt));
    }
    if (fit_laws(ln_c, ln_m, ln_d, ln_l, &fit.m_opt, &fit.d_opt, &fit.loss_opt)) {
      fit.m_opt.valid = fit.d_opt.valid = fit.loss_opt.valid = true;
      fit.m_opt.points = fit.d_opt.points = fit.loss_opt.points = int64_t(curves.size());
      std::vector<double> mc, me, dc, de, lc, le;
      Philox rng(options.seed, StreamId("sweep.fit.bootstrap"));
      uint64_t draw = 0;
      for (int64_t it = 0; it < options.bootstrap; ++it) {
        std::vector<double> bm, bd, bl;
        bool ok = true;
        for (const Curve& cv : curves) {
          std::vector<double> y(cv.x.size());
          for (size_t i = 0; i < y.size(); ++i) {
            y[i] = cv.fitted[i] + cv.scale * cv.resid[rng.Uint64Below(draw++, cv.resid.size())];
          }
          double a, b, c;
          Vertex v;
          if (!FitParabola(cv.x, y, &a, &b, &c) || !VertexOf(a, b, c, &v) || !(v.y > 0)) {
            ok = false;
            break;
          }
          bm.push_back(v.x);
          bd.push_back(std::log(cv.budget) - v.x);
          bl.push_back(std::log(v.y));
        }
        PowerLaw m, d, l;
        if (!ok || !fit_laws(ln_c, bm, bd, bl, &m, &d, &l)) continue;
        mc.push_back(m.coef), me.push_back(m.exp);
        dc.push_back(d.coef), de.push_back(d.exp);
        lc.push_back(l.coef), le.push_back(l.exp);
      }
      SetIntervals(&fit.m_opt, mc, me);
      SetIntervals(&fit.d_opt, dc, de);
      SetIntervals(&fit.loss_opt, lc, le);
    }
  }

  // Grid sweeps: the near-optimal band and its power laws.
  if (fit.grid) {
    for (BudgetFit& bf : fit.budgets) {
      for (const FitPoint& p : by_budget[bf.budget]) {
        if (p.loss <= bf.best_loss * (1 + options.band) && p.batch_tokens > 0 && p.lr > 0) {
          fit.band.push_back(p);
          ++bf.band_points;
        }
      }
    }
    auto band_law = [&](bool batch, PowerLaw* law) {
      auto column = [&](const std::vector<size_t>& idx, std::vector<double>* x,
                        std::vector<double>* y) {
        for (size_t i : idx) {
          x->push_back(std::log(fit.band[i].budget));
          y->push_back(std::log(batch ? fit.band[i].batch_tokens : fit.band[i].lr));
        }
      };
      std::vector<size_t> all(fit.band.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      std::vector<double> x, y;
      column(all, &x, &y);
      if (!FitLog(x, y, &law->coef, &law->exp)) return;
      law->valid = true;
      law->points = int64_t(all.size());
      std::vector<double> cs, es;
      Philox rng(options.seed, StreamId(batch ? "sweep.fit.band.b" : "sweep.fit.band.lr"));
      uint64_t draw = 0;
      for (int64_t it = 0; it < options.bootstrap; ++it) {
        std::vector<size_t> idx(all.size());
        for (size_t& i : idx) i = rng.Uint64Below(draw++, all.size());
        std::vector<double> bx, by;
        column(idx, &bx, &by);
        double c, e;
        if (FitLog(bx, by, &c, &e)) cs.push_back(c), es.push_back(e);
      }
      SetIntervals(law, cs, es);
    };
    band_law(true, &fit.batch_opt);
    band_law(false, &fit.lr_opt);
  }
  return fit;
}

std::string FitToJson(const FitResult& fit) {
  nlohmann::json budgets = nlohmann::json::array();
  for (const BudgetFit& b : fit.budgets) {
    nlohmann::json j = {{"budget", b.budget}, {"points", b.points}, {"bracketed", b.bracketed},
                        {"m_range", {b.m_min, b.m_max}}, {"best_loss", b.best_loss}};
    if (b.points >= 3) j["parabola"] = {{"a", b.a}, {"b", b.b}, {"c", b.c}};
    if (b.m_opt > 0) {
      j["m_opt"] = b.m_opt;
      j["d_opt"] = b.d_opt;
      j["loss_opt"] = b.loss_opt;
    }
    if (!b.note.empty()) j["note"] = b.note;
    if (fit.grid) j["band_points"] = b.band_points;
    budgets.push_back(j);
  }
  nlohmann::json out = {{"budgets", budgets},
                        {"m_opt", LawJson(fit.m_opt)},
                        {"d_opt", LawJson(fit.d_opt)},
                        {"loss_opt", LawJson(fit.loss_opt)},
                        {"bootstrap_resamples", fit.bootstrap},
                        {"grid", fit.grid},
                        {"reference", {{"deepseek_llm", {{"m_opt_exp", 0.5243}, {"d_opt_exp", 0.4757},
                                                         {"m_opt_coef", 0.1715}, {"d_opt_coef", 5.8316},
                                                         {"batch_exp", 0.3271}, {"lr_exp", -0.1250}}},
                                       {"chinchilla_approach2", {{"n_opt_exp", 0.49}, {"d_opt_exp", 0.51}}}}}};
  if (fit.grid) {
    out["batch_opt"] = LawJson(fit.batch_opt);
    out["lr_opt"] = LawJson(fit.lr_opt);
    nlohmann::json band = nlohmann::json::array();
    for (const FitPoint& p : fit.band) {
      band.push_back({{"budget", p.budget}, {"m", p.m}, {"batch_tokens", p.batch_tokens},
                      {"lr", p.lr}, {"loss", p.loss}});
    }
    out["band"] = band;
  }
  return out.dump(2) + "\n";
}

}  // namespace hs::sweep
