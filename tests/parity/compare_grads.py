#!/usr/bin/env python3
"""Compares gradients dumped by `hai train --dump-grads` (parity tests).

usage: compare_grads.py REF_DIR RUN_DIR [--rel-tol 1e-5]
Every grads_stage*.safetensors of RUN_DIR together must hold exactly the
tensors of REF_DIR/grads_stage0.safetensors (the single-process run), each
within rel_tol of the reference (max |a-b| / max |ref| per tensor).
Pure Python (struct + json): no numpy needed.
"""
import argparse
import glob
import json
import os
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name}: expected F32, got {info['dtype']}")
        b, e = info["data_offsets"]
        out[name] = struct.unpack(f"<{(e - b) // 4}f", data[base + b:base + e])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ref")
    p.add_argument("run")
    p.add_argument("--rel-tol", type=float, default=1e-5)
    a = p.parse_args()
    ref = read_safetensors(os.path.join(a.ref, "grads_stage0_ep0.safetensors"))
    run = {}
    for path in sorted(glob.glob(os.path.join(a.run, "grads_stage*.safetensors"))):
        for name, values in read_safetensors(path).items():
            if name in run:
                print(f"{name} appears in two stages")
                return 1
            run[name] = values
    if set(ref) != set(run):
        print(f"tensor sets differ: missing {sorted(set(ref) - set(run))[:5]}, "
              f"extra {sorted(set(run) - set(ref))[:5]}")
        return 1
    worst, worst_name, bad = 0.0, "", 0
    for name, r in ref.items():
        x = run[name]
        scale = max(max(abs(v) for v in r), 1e-30)
        rel = max(abs(u - v) for u, v in zip(r, x)) / scale
        if rel > worst:
            worst, worst_name = rel, name
        if rel > a.rel_tol:
            print(f"{name}: max relative difference {rel:.2e}")
            bad += 1
    print(f"{len(ref)} gradient tensors, max relative difference {worst:.2e} ({worst_name}), "
          f"tolerance {a.rel_tol:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
