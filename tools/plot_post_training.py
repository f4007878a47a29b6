#!/usr/bin/env python3
# File: tools/plot_post_training.py
#
# Training curves of a post-training demo (docs/post_training.md) from the
# runs' metrics.jsonl: matplotlib (Debian's python3-matplotlib,
# tools/setup.sh).
#
#   left:  SFT loss, held-out loss (eval_loss) and token accuracy
#   right: DPO loss, rewards/margins and rewards/accuracies
#
# Usage: python3 tools/plot_post_training.py --sft runs/addition_sft \
#            --dpo runs/addition_dpo --out docs/images/post_training.png
import argparse
import json
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_post_training: matplotlib is missing (tools/setup.sh installs python3-matplotlib)")


def load(run_dir):
    path = f"{run_dir}/metrics.jsonl"
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"plot_post_training: {path}: {e}")


def series(records, key):
    pts = [(r["step"], r[key]) for r in records if key in r]
    if not pts:
        sys.exit(f"plot_post_training: no '{key}' in the metrics (is this the right run?)")
    return [p[0] for p in pts], [p[1] for p in pts]


def twin_panel(ax, records, left, right, title):
    for key, style in left:
        ax.plot(*series(records, key), style, label=key, lw=1)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    for key, style in right:
        ax2.plot(*series(records, key), style, label=key, lw=1)
    ax2.set_ylim(0, 1.02)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="center right", fontsize=8)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sft", required=True, help="SFT run directory")
    p.add_argument("--dpo", required=True, help="DPO run directory")
    p.add_argument("--out", required=True, help="image to write (.png / .svg)")
    a = p.parse_args()
    sft, dpo = load(a.sft), load(a.dpo)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    twin_panel(left, sft, [("loss", "C0-"), ("eval_loss", "C1o-")],
               [("token_accuracy", "C2-")], "SFT (loss; token accuracy on the right axis)")
    twin_panel(right, dpo, [("loss", "C0-"), ("rewards/margins", "C3-")],
               [("rewards/accuracies", "C2-")], "DPO (loss, margin; reward accuracy on the right)")
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
