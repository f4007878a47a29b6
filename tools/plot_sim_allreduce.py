#!/usr/bin/env python3
# File: tools/plot_sim_allreduce.py
#
# Plots `hai sim allreduce --csv` (the model of HFReduce and of NCCL's ring
# and tree allreduce over node counts) with the Fire-Flyer paper's reported
# ranges at 186 MiB for 16..1440 PCIe A100 GPUs: HFReduce 6.3-8.1 GB/s, NCCL
# 1.6-4.8 GB/s algorithm bandwidth (drawn as bands; the paper's per-point
# values are not restated here). matplotlib from Debian (tools/setup.sh).
#
# Usage:
#   hai sim allreduce --nodes 2,4,8,16,32,64,128,180 --csv > sim.csv
#   python3 tools/plot_sim_allreduce.py sim.csv --out docs/img/sim_allreduce.png \
#       [--also-ring "other.csv=NCCL ring, 10 us per step"]   # another run's ring
import argparse
import csv
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_sim_allreduce: matplotlib is missing (tools/setup.sh installs "
             "python3-matplotlib)")

PAPER = {"HFReduce": (6.3, 8.1), "NCCL": (1.6, 4.8)}  # GB/s, 16..1440 GPUs
PAPER_GPUS = (16, 1440)
FIELDS = ["nodes", "gpus", "bytes", "hfreduce_us", "hfreduce_algbw_gbs", "hfreduce_bottleneck",
          "ring_us", "ring_algbw_gbs", "tree_us", "tree_algbw_gbs", "nccl_algbw_gbs"]


def read(path):
    with open(path) as f:
        lines = [l for l in f if l.strip() and not l.startswith("#")]
    rows = list(csv.DictReader(lines))
    if not rows or list(rows[0].keys()) != FIELDS:
        sys.exit(f"{path}: expected the header of `hai sim allreduce --csv`")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("csv")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default="allreduce algorithm bandwidth (model) vs the paper")
    ap.add_argument("--also-ring", action="append", default=[], metavar="CSV=LABEL",
                    help="the ring of another `hai sim allreduce --csv` run (other inputs)")
    a = ap.parse_args()
    rows = read(a.csv)
    gpus = [int(r["gpus"]) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(gpus, [float(r["hfreduce_algbw_gbs"]) for r in rows], "o-", color="#1f77b4",
            label="HFReduce (model)")
    ax.plot(gpus, [float(r["ring_algbw_gbs"]) for r in rows], "s-", color="#d62728",
            label="NCCL ring (model)")
    ax.plot(gpus, [float(r["tree_algbw_gbs"]) for r in rows], "^--", color="#ff7f0e",
            label="NCCL tree (model, at NCCL's own cost-model efficiency)")
    for spec in a.also_ring:
        path, _, label = spec.partition("=")
        other = read(path)
        ax.plot([int(r["gpus"]) for r in other], [float(r["ring_algbw_gbs"]) for r in other],
                "s:", color="#9467bd", label=label or path)
    for (name, (lo, hi)), color in zip(PAPER.items(), ["#1f77b4", "#d62728"]):
        ax.fill_between(PAPER_GPUS, lo, hi, color=color, alpha=0.15,
                        label=f"{name}, paper's range ({lo}-{hi} GB/s)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("GPUs (8 per node)")
    ax.set_ylabel("algbw, GB/s (bytes per GPU / time)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{a.title}, {int(rows[0]['bytes']) / 2**20:.0f} MiB")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
