#!/usr/bin/env python3
"""Compares per-step losses of two metrics.jsonl files (parity tests).

usage: compare_metrics.py REF.jsonl RUN.jsonl --rel-tol 1e-5 [--min-overlap X]
Exits non-zero, printing every offending step, when a loss differs by more
than rel_tol (relative), likewise the held-out eval loss on the steps
where the reference evaluated (the run must have evaluated there too),
when the step counts differ, or when the measured
overlap ratio is not above min_overlap on any step. One step suffices: a
step whose communication thread was not scheduled before backward ended
measures 0 on a busy 2-core machine (that is the OS, not the overlap
logic), while communication that never overlaps measures 0 on every step.
"""
import argparse
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ref")
    p.add_argument("run")
    p.add_argument("--rel-tol", type=float, default=1e-5)
    p.add_argument("--min-overlap", type=float, default=None)
    a = p.parse_args()
    ref, run = load(a.ref), load(a.run)
    if len(ref) != len(run):
        print(f"step count differs: {len(ref)} vs {len(run)}")
        return 1
    bad = 0
    worst = 0.0
    evals = 0
    for r, x in zip(ref, run):
        for key in ("loss", "aux_loss"):
            rel = abs(r[key] - x[key]) / max(abs(r[key]), 1e-12)
            worst = max(worst, rel) if key == "loss" else worst
            if rel > a.rel_tol:
                print(f"step {r['step']}: {key} {r[key]:.9g} vs {x[key]:.9g} (rel {rel:.2e})")
                bad += 1
        if "eval_loss" in r:
            if "eval_loss" not in x:
                print(f"step {r['step']}: the reference evaluated, the run did not")
                bad += 1
                continue
            evals += 1
            rel = abs(r["eval_loss"] - x["eval_loss"]) / max(abs(r["eval_loss"]), 1e-12)
            if rel > a.rel_tol or r["eval_tokens"] != x["eval_tokens"]:
                print(f"step {r['step']}: eval_loss {r['eval_loss']:.9g} vs {x['eval_loss']:.9g} "
                      f"(rel {rel:.2e}), tokens {r['eval_tokens']} vs {x['eval_tokens']}")
                bad += 1

    if a.min_overlap is not None:
        above = sum(1 for x in run if x.get("overlap", 0) > a.min_overlap)
        print(f"overlap above {a.min_overlap} on {above} of {len(run)} steps: "
              + " ".join(f"{x.get('overlap', 0):.3f}" for x in run))
        if above == 0:
            bad += 1
    print(f"{len(ref)} steps ({evals} evaluated), max relative loss difference {worst:.2e} (tolerance {a.rel_tol:g})"
          + ("" if a.min_overlap is None else
             f", overlap min {min(x.get('overlap', 0) for x in run):.2f}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
