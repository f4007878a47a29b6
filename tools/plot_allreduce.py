#!/usr/bin/env python3
# File: tools/plot_allreduce.py
#
# Plots `hai bench allreduce --csv` output as an SVG (no dependencies: the
# SVG is written by hand). One line per implementation per CSV: busbw in GB/s
# against message size on a log2 axis. Lines starting with '#' are comments
# (the benchmark's hardware header) and are skipped.
#
# Usage:
#   mpirun -np 4 hai bench allreduce --ranks-per-node 2 --csv > 2x2.csv
#   python3 tools/plot_allreduce.py --out docs/img/allreduce.svg \
#       "2 nodes x 2 ranks=2x2.csv" "1 node x 2 ranks=1x2.csv"
#
# Several runs of one configuration: "LABEL=run1.csv,run2.csv,run3.csv" plots
# the per-size median of each column (the machine is noisy); --median-out DIR
# also writes that median as a CSV (DIR/<first file's name>.median.csv).
import argparse
import csv
import math
import os
import statistics
import sys

# The columns read here; newer benchmarks append CPU columns after them.
HEADER = ["bytes", "hfreduce_time_us", "hfreduce_busbw_gbs", "mpi_time_us",
          "mpi_busbw_gbs", "ratio"]
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
          "#17becf", "#7f7f7f"]


def read_csv(path):
    """Returns [(bytes, hfreduce_busbw, mpi_busbw)] from a benchmark CSV."""
    with open(path) as f:
        lines = [l for l in f if l.strip() and not l.startswith("#")]
    rows = list(csv.reader(lines))
    if not rows or rows[0][:len(HEADER)] != HEADER:
        sys.exit(f"{path}: expected header {','.join(HEADER)}")
    return [(int(r[0]), float(r[2]), float(r[4])) for r in rows[1:]]


def read_full(path):
    """Returns {bytes: [hf_us, hf_busbw, mpi_us, mpi_busbw]} from a benchmark CSV."""
    with open(path) as f:
        lines = [l for l in f if l.strip() and not l.startswith("#")]
    rows = list(csv.reader(lines))
    if not rows or rows[0][:len(HEADER)] != HEADER:
        sys.exit(f"{path}: expected header {','.join(HEADER)}")
    return {int(r[0]): [float(x) for x in r[1:5]] for r in rows[1:]}


def median_rows(paths, median_out=None):
    """Per-size median over several runs -> [(bytes, hf, mpi)]; optional CSV."""
    runs = [read_full(p) for p in paths]
    sizes = sorted(set.intersection(*(set(r) for r in runs)))
    med = {b: [statistics.median(r[b][i] for r in runs) for i in range(4)] for b in sizes}
    if median_out:
        name = os.path.basename(paths[0]).rsplit(".", 1)[0]
        with open(os.path.join(median_out, name + ".median.csv"), "w") as f:
            f.write(f"# per-size median of {len(paths)} runs: "
                    f"{', '.join(os.path.basename(p) for p in paths)}\n")
            f.write(",".join(HEADER) + "\n")
            for b in sizes:
                hu, hb, mu, mb = med[b]
                f.write(f"{b},{hu:.2f},{hb:.3f},{mu:.2f},{mb:.3f},{hb / mb if mb else 0:.3f}\n")
    return [(b, med[b][1], med[b][3]) for b in sizes]


def size_label(b):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if b >= 1 << shift and b % (1 << shift) == 0:
            return f"{b >> shift}{unit}"
    return str(b)


def plot(series, out, title):
    """series: [(label, [(bytes, hf, mpi)])] -> SVG file."""
    W, H, L, R, T, B = 760, 440, 70, 200, 40, 60
    pw, ph = W - L - R, H - T - B
    xs = [r[0] for _, rows in series for r in rows]
    ys = [max(r[1], r[2]) for _, rows in series for r in rows]
    x0, x1 = math.log2(min(xs)), math.log2(max(xs))
    if x1 == x0:
        x1 = x0 + 1
    ymax = max(ys) * 1.1 or 1.0
    step = 10 ** math.floor(math.log10(ymax / 5))
    for m in (1, 2, 5, 10):
        if ymax / (step * m) <= 6:
            step *= m
            break

    def px(b):
        return L + (math.log2(b) - x0) / (x1 - x0) * pw

    def py(v):
        return T + ph - v / ymax * ph

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L + pw / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>']
    y = 0.0
    while y <= ymax:
        s.append(f'<line x1="{L}" x2="{L + pw}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>')
        s.append(f'<text x="{L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        y += step
    for b in sorted(set(xs)):
        if int(math.log2(b)) % 2 == 0 or len(set(xs)) < 10:
            s.append(f'<line x1="{px(b):.1f}" x2="{px(b):.1f}" y1="{T}" y2="{T + ph}" stroke="#eee"/>')
            s.append(f'<text x="{px(b):.1f}" y="{T + ph + 16}" text-anchor="middle">{size_label(b)}</text>')
    s.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="black"/>')
    s.append(f'<text x="{L + pw / 2}" y="{H - 18}" text-anchor="middle">message size (bytes)</text>')
    s.append(f'<text x="18" y="{T + ph / 2}" text-anchor="middle" '
             f'transform="rotate(-90 18 {T + ph / 2})">busbw (GB/s)</text>')
    k = 0
    for label, rows in series:
        for name, idx, dash in (("HFReduce", 1, ""), ("MPI_Allreduce", 2, ' stroke-dasharray="6 4"')):
            color = COLORS[k % len(COLORS)]
            pts = " ".join(f"{px(r[0]):.1f},{py(r[idx]):.1f}" for r in rows)
            s.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            for r in rows:
                s.append(f'<circle cx="{px(r[0]):.1f}" cy="{py(r[idx]):.1f}" r="2.5" fill="{color}"/>')
            ly = T + 14 + k * 36
            s.append(f'<line x1="{L + pw + 12}" x2="{L + pw + 40}" y1="{ly}" y2="{ly}" '
                     f'stroke="{color}" stroke-width="2"{dash}/>')
            s.append(f'<text x="{L + pw + 46}" y="{ly + 4}">{name}</text>')
            s.append(f'<text x="{L + pw + 46}" y="{ly + 18}" fill="#555">{label}</text>')
            k += 1
    s.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(s) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="SVG file to write")
    ap.add_argument("--title", default="HFReduce vs MPI_Allreduce (busbw)")
    ap.add_argument("--median-out", default=None,
                    help="write the per-size median of multi-run inputs here")
    ap.add_argument("inputs", nargs="+",
                    help="LABEL=FILE.csv, FILE.csv, or LABEL=RUN1.csv,RUN2.csv,... (median)")
    args = ap.parse_args()
    series = []
    for spec in args.inputs:
        label, _, path = spec.rpartition("=")
        paths = path.split(",")
        rows = read_csv(path) if len(paths) == 1 else median_rows(paths, args.median_out)
        series.append((label or path, rows))
    plot(series, args.out, args.title)


if __name__ == "__main__":
    main()
