#!/usr/bin/env python3
# File: tools/plot_post_training.py
#
# Training curves of a post-training demo (docs/post_training.md) from the
# runs' metrics.jsonl, and the held-out exact match of each stage from
# `hai eval-task --out` answer files: matplotlib (Debian's
# python3-matplotlib, tools/setup.sh).
#
#   1: SFT loss, held-out loss (eval_loss) and token accuracy
#   2: DPO loss (and the chosen answers' NLL with objective.dpo_rpo_alpha),
#      rewards/margins, rewards/accuracies
#   3: DPO rewards/chosen and rewards/rejected (β × log-ratio to the
#      reference): whether the chosen answers gain probability or only the
#      rejected ones lose it
#   4: held-out exact match per stage (--accuracy LABEL=answers.jsonl)
# Per-step DPO metrics are noisy (a few pairs a step): drawn faint, with a
# moving average (--smooth steps) on top.
#
# Usage: python3 tools/plot_post_training.py --sft runs/addition_sft \
#            --dpo runs/addition_dpo --accuracy SFT=sft_answers.jsonl \
#            --accuracy DPO=dpo_answers.jsonl --out docs/img/post_training_addition.png
import argparse
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_post_training: matplotlib is missing (tools/setup.sh installs python3-matplotlib)")

from metrics_series import load_jsonl, moving_average, series


def load(run_dir):
    return load_jsonl(f"{run_dir}/metrics.jsonl", "plot_post_training")


def required_series(records, key, required=True):
    xs, ys = series(records, key)
    if not xs and required:
        sys.exit(f"plot_post_training: no '{key}' in the metrics (is this the right run?)")
    return xs, ys


def draw(ax, records, key, color, window, required=True, label=None):
    xs, ys = required_series(records, key, required)
    if not xs:
        return
    if window > 1 and len(ys) > window:
        ax.plot(xs, ys, color=color, lw=0.5, alpha=0.25)
        ys = moving_average(ys, window)
    ax.plot(xs, ys, color=color, lw=1.2, label=label or key)


def exact_match(spec):
    label, sep, path = spec.partition("=")
    if not sep:
        sys.exit(f"plot_post_training: --accuracy wants LABEL=answers.jsonl, got '{spec}'")
    recs = load_jsonl(path, "plot_post_training")
    if not recs or any("correct" not in r for r in recs):
        sys.exit(f"plot_post_training: {path}: not hai eval-task --out answers")
    return label, sum(bool(r["correct"]) for r in recs), len(recs)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sft", required=True, help="SFT run directory")
    p.add_argument("--dpo", required=True, help="DPO run directory")
    p.add_argument("--accuracy", action="append", default=[],
                   help="LABEL=answers.jsonl (hai eval-task --out), one per stage, in order")
    p.add_argument("--smooth", type=int, default=10, help="moving-average window of DPO curves")
    p.add_argument("--out", required=True, help="image to write (.png / .svg)")
    a = p.parse_args()
    sft, dpo = load(a.sft), load(a.dpo)
    accuracy = [exact_match(s) for s in a.accuracy]
    panels = 4 if accuracy else 3
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8))

    ax = axes[0]
    draw(ax, sft, "loss", "C0", 1)
    xs, ys = series(sft, "eval_loss")
    if xs:
        ax.plot(xs, ys, "C1o-", lw=1, ms=3, label="eval_loss (held-out)")
    ax2 = ax.twinx()
    draw(ax2, sft, "token_accuracy", "C2", 1)
    ax2.set_ylim(0, 1.02)
    ax.set_title("SFT: loss; token accuracy (right)")

    ax = axes[1]
    draw(ax, dpo, "loss", "C0", a.smooth)
    draw(ax, dpo, "nll_loss", "C4", a.smooth, required=False)
    draw(ax, dpo, "rewards/margins", "C3", a.smooth)
    ax2 = ax.twinx()
    draw(ax2, dpo, "rewards/accuracies", "C2", a.smooth)
    ax2.set_ylim(0, 1.02)
    ax.set_title("DPO: loss, margin; reward accuracy (right)")

    ax = axes[2]
    draw(ax, dpo, "rewards/chosen", "C2", a.smooth)
    draw(ax, dpo, "rewards/rejected", "C3", a.smooth)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_title("DPO: β·log(π/π_ref) of chosen, rejected")

    for ax in axes[:3]:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        for other in fig.axes:
            if other is not ax and other.get_shared_x_axes().joined(ax, other):
                h, l = other.get_legend_handles_labels()
                handles, labels = handles + h, labels + l
        ax.legend(handles, labels, loc="best", fontsize=7)

    if accuracy:
        ax = axes[3]
        labels = [f"{label}\n{k}/{n}" for label, k, n in accuracy]
        values = [100.0 * k / n for _, k, n in accuracy]
        bars = ax.bar(range(len(values)), values, color=[f"C{i}" for i in range(len(values))])
        for bar, v in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, v + 0.5, f"{v:.1f}%", ha="center", fontsize=8)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylim(0, max(values) * 1.2 + 1)
        ax.set_ylabel("held-out exact match (%)")
        ax.set_title("held-out exact match (greedy)")
        ax.grid(alpha=0.3, axis="y")

    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
