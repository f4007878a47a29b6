#!/usr/bin/env python3
# File: tools/plot_grpo.py
#
# Reward and held-out accuracy over the steps of GRPO runs
# (docs/post_training.md): matplotlib (Debian's python3-matplotlib,
# tools/setup.sh).
#
#   left:  mean sampled reward per step (faint) and its moving average, and
#          the exact-match reward's moving average (--exact-key) when the
#          run has several rewards
#   right: held-out exact match at the evaluated checkpoints
#          (RUN/heldout.jsonl from tools/eval_checkpoints.sh), starting from
#          --initial-accuracy at step 0 when given
#
# Usage: python3 tools/plot_grpo.py --run runs/addition_grpo [--run ...] \
#            [--label seed11 ...] [--initial-accuracy 0.275] [--window 25] \
#            --out docs/img/grpo_addition.png
import argparse
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_grpo: matplotlib is missing (tools/setup.sh installs python3-matplotlib)")

from metrics_series import load_jsonl, moving_average, series


def main():
    p = argparse.ArgumentParser(description="GRPO reward and held-out accuracy over steps")
    p.add_argument("--run", action="append", required=True, help="GRPO run directory (repeatable)")
    p.add_argument("--label", action="append", default=[], help="legend label per --run")
    p.add_argument("--initial-accuracy", type=float, default=None,
                   help="held-out exact match of the starting weights (plotted at step 0)")
    p.add_argument("--exact-key", default="reward/correct",
                   help="metric of the exact-match reward, drawn dashed when the run has several rewards")
    p.add_argument("--window", type=int, default=25, help="moving-average window in steps")
    p.add_argument("--out", required=True, help="image to write (.png / .svg)")
    a = p.parse_args()
    if a.label and len(a.label) != len(a.run):
        sys.exit("plot_grpo: give one --label per --run (or none)")
    if a.window < 1:
        sys.exit("plot_grpo: --window must be >= 1")
    labels = a.label or [os.path.basename(os.path.normpath(r)) for r in a.run]

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (run, label) in enumerate(zip(a.run, labels)):
        color = colors[i % len(colors)]
        metrics = load_jsonl(f"{run}/metrics.jsonl", "plot_grpo")
        steps, reward = series(metrics, "reward")
        if not steps:
            sys.exit(f"plot_grpo: {run}/metrics.jsonl has no 'reward' (not a GRPO run?)")
        left.plot(steps, reward, color=color, alpha=0.15, lw=0.6)
        left.plot(steps, moving_average(reward, a.window), color=color, lw=1.5,
                  label=f"{label}: reward")
        reward_keys = [k for k in metrics[-1] if k.startswith("reward/")]
        if len(reward_keys) > 1 and a.exact_key in reward_keys:
            s, v = series(metrics, a.exact_key)
            left.plot(s, moving_average(v, a.window), color=color, lw=1.2, ls="--",
                      label=f"{label}: {a.exact_key}")

        heldout_path = f"{run}/heldout.jsonl"
        if os.path.exists(heldout_path):
            rows = sorted(load_jsonl(heldout_path, "plot_grpo"), key=lambda r: r["step"])
            xs = [r["step"] for r in rows]
            ys = [100.0 * r["correct"] / r["total"] for r in rows]
            if a.initial_accuracy is not None and (not xs or xs[0] != 0):
                xs, ys = [0] + xs, [100.0 * a.initial_accuracy] + ys
            right.plot(xs, ys, "o-", color=color, lw=1.2, ms=4, label=label)
        else:
            print(f"plot_grpo: {heldout_path} missing (tools/eval_checkpoints.sh): "
                  "no accuracy curve for this run", file=sys.stderr)

    left.set_xlabel("step")
    left.set_ylabel(f"mean sampled reward ({a.window}-step moving average)")
    left.set_title("GRPO: reward of the sampled completions")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.set_xlabel("step")
    right.set_ylabel("held-out exact match, greedy (%)")
    right.set_title("GRPO: held-out accuracy")
    if a.initial_accuracy is not None:
        right.axhline(100.0 * a.initial_accuracy, color="gray", ls=":", lw=1,
                      label="starting weights")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(a.out, dpi=110)
    except OSError as e:
        sys.exit(f"plot_grpo: {a.out}: {e}")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
