#!/usr/bin/env python3
# File: tools/plot_sweep.py
#
# Plots of a scaling-law sweep (`hai sweep fit` runs this after writing
# DIR/fit.json): matplotlib (Debian's python3-matplotlib, tools/setup.sh).
#
#   DIR/isoflop.png   metric against M for every budget, with the fitted
#                     parabola and its minimum
#   DIR/optimal.png   M_opt(C) and D_opt(C): the budgets' minima, the power
#                     law with its 95% bootstrap band, DeepSeek LLM's law
#   DIR/loss.png      every point's metric and L_opt(C) against C
#   DIR/band.png      (grid sweeps) the near-optimal B and lr against C
#
# Usage: python3 tools/plot_sweep.py --dir runs/isoflop_tiny [--format svg]
import argparse
import csv
import json
import math
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_sweep: matplotlib is missing (tools/setup.sh installs python3-matplotlib)")

DEEPSEEK = {"m": (0.1715, 0.5243), "d": (5.8316, 0.4757)}


def read_results(path):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["state"] == "done" and float(r["metric"]) > 0]
    for r in rows:
        for k in ("budget", "m", "tokens", "metric", "lr"):
            r[k] = float(r[k])
        r["batch_tokens"] = int(r["batch_seqs"]) * int(r["seq_len"])
    return rows


def geomspace(a, b, n=60):
    la, lb = math.log(a), math.log(b)
    return [math.exp(la + (lb - la) * i / (n - 1)) for i in range(n)]


def law_band(law, cs):
    """2.5th and 97.5th percentiles of the bootstrap predictions at each C."""
    samples = law.get("bootstrap") or []
    if len(samples) < 20:
        return None
    lo, hi = [], []
    for c in cs:
        ys = sorted(k * c ** e for k, e in samples)
        lo.append(ys[int(0.025 * (len(ys) - 1))])
        hi.append(ys[int(math.ceil(0.975 * (len(ys) - 1)))])
    return lo, hi


def style(ax, xlabel, ylabel, title=None, logy=False, legend_size=None):
    """Log-x (and optionally log-y) axes with labels, grid and legend."""
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=legend_size)


def save(fig, out):
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_isoflop(rows, fit, metric, out):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    budgets = sorted({r["budget"] for r in rows})
    cmap = plt.get_cmap("viridis")
    for i, c in enumerate(budgets):
        color = cmap(i / max(1, len(budgets) - 1) * 0.85)
        pts = sorted((r["m"], r["metric"]) for r in rows if r["budget"] == c)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=color, zorder=3,
                   label=f"C = {c:.2g}")
        bf = next((b for b in fit["budgets"] if b["budget"] == c), None)
        if bf and "parabola" in bf:
            a, b, cc = bf["parabola"]["a"], bf["parabola"]["b"], bf["parabola"]["c"]
            ms = geomspace(pts[0][0] / 1.3, pts[-1][0] * 1.3)
            ax.plot(ms, [a * math.log(m) ** 2 + b * math.log(m) + cc for m in ms], color=color,
                    lw=1.2, alpha=0.8)
            if bf.get("bracketed"):
                ax.plot([bf["m_opt"]], [bf["loss_opt"]], marker="*", ms=13, color=color,
                        markeredgecolor="black", zorder=4)
    style(ax, "model scale M (non-embedding FLOPs per token)", metric,
          "IsoFLOP curves (star: fitted minimum)")
    save(fig, out)


def plot_optimal(fit, out):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    used = [b for b in fit["budgets"] if b.get("bracketed")]
    cs_all = [b["budget"] for b in fit["budgets"]]
    if not cs_all:
        return
    cs = geomspace(min(cs_all) / 2, max(cs_all) * 2)
    for ax, key, label in ((axes[0], "m", "M_opt (FLOPs/token)"), (axes[1], "d", "D_opt (tokens)")):
        law = fit.get(f"{key}_opt")
        ax.scatter([b["budget"] for b in used], [b[f"{key}_opt"] for b in used], color="C0",
                   zorder=3, label="IsoFLOP minima")
        if law:
            band = law_band(law, cs)
            if band:
                ax.fill_between(cs, band[0], band[1], color="C0", alpha=0.18, label="95% bootstrap band")
            ax.plot(cs, [law["coef"] * c ** law["exp"] for c in cs], color="C0",
                    label=f"fit: {law['coef']:.3g}·C^{law['exp']:.4f}")
        k, e = DEEPSEEK[key]
        ax.plot(cs, [k * c ** e for c in cs], "--", color="C3",
                label=f"DeepSeek LLM: {k}·C^{e}")
        style(ax, "compute C = M·D (FLOPs)", label, logy=True, legend_size=8)
    fig.suptitle("Optimal model scale and data against compute")
    save(fig, out)


def plot_loss(rows, fit, metric, out):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sc = ax.scatter([r["budget"] for r in rows], [r["metric"] for r in rows],
                    c=[math.log10(r["m"]) for r in rows], cmap="plasma", zorder=3)
    fig.colorbar(sc, ax=ax, label="log10 M")
    used = [b for b in fit["budgets"] if b.get("bracketed")]
    ax.scatter([b["budget"] for b in used], [b["loss_opt"] for b in used], marker="*", s=160,
               color="black", zorder=4, label="L_opt (parabola minimum)")
    law = fit.get("loss_opt")
    if law and used:
        cs = geomspace(min(b["budget"] for b in used) / 2, max(b["budget"] for b in used) * 2)
        ax.plot(cs, [law["coef"] * c ** law["exp"] for c in cs], color="black", lw=1,
                label=f"fit: {law['coef']:.3g}·C^{law['exp']:.4f}")
    style(ax, "compute C (FLOPs)", metric, "Loss against compute")
    save(fig, out)


def plot_band(fit, out):
    band = fit.get("band") or []
    if not band:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    cs = geomspace(min(p["budget"] for p in band) / 2, max(p["budget"] for p in band) * 2)
    for ax, key, law_key, label in ((axes[0], "batch_tokens", "batch_opt", "batch size B (tokens)"),
                                    (axes[1], "lr", "lr_opt", "learning rate η")):
        ax.scatter([p["budget"] for p in band], [p[key] for p in band], color="C2", zorder=3,
                   label="within 0.25% of the best")
        law = fit.get(law_key)
        if law:
            ax.plot(cs, [law["coef"] * c ** law["exp"] for c in cs], color="C2",
                    label=f"fit: {law['coef']:.3g}·C^{law['exp']:.4f}")
        style(ax, "compute C (FLOPs)", label, logy=True, legend_size=8)
    save(fig, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True, help="sweep directory with results.csv and fit.json")
    ap.add_argument("--format", default="png", choices=["png", "svg"])
    a = ap.parse_args()
    rows = read_results(os.path.join(a.dir, "results.csv"))
    with open(os.path.join(a.dir, "fit.json")) as f:
        fit = json.load(f)
    metric = "metric"
    report = os.path.join(a.dir, "report.md")
    if os.path.exists(report):
        with open(report) as f:
            for line in f:
                if line.startswith("Metric: "):
                    metric = line[len("Metric: "):].split(".")[0]
                    break
    ext = a.format
    plot_isoflop(rows, fit, metric, os.path.join(a.dir, f"isoflop.{ext}"))
    plot_optimal(fit, os.path.join(a.dir, f"optimal.{ext}"))
    plot_loss(rows, fit, metric, os.path.join(a.dir, f"loss.{ext}"))
    if fit.get("grid"):
        plot_band(fit, os.path.join(a.dir, f"band.{ext}"))
    print(f"plot_sweep: wrote {a.dir}/{{isoflop,optimal,loss}}.{ext}")


if __name__ == "__main__":
    main()
