#!/usr/bin/python3
# File: tools/peers/attention_sdpa.py
#
# The PyTorch peer of `hai bench kernels`' attention rows: causal attention
# forward and backward with torch.nn.functional.scaled_dot_product_attention
# in bf16 on the same shapes (MLA after up-projection: q/k head dim 192, v
# head dim 128 at DeepSeek-V2 size). PyTorch's flash kernel needs one head
# dim for q, k and v, so two variants are timed:
#   sdpa      : q/k 192, v 128 as they are (PyTorch picks its backend);
#   sdpa_pad_v: v zero-padded to 192 (what MLA code on flash-attn does),
#               output sliced back to 128.
# The FLOP count is the causal model FLOPs `hai bench kernels` uses:
# forward 2*B*H*(T^2/2)*(Dqk+Dv), backward 2.5x that.
#
#   attention_sdpa.py --batch 1 --seq 4096 --heads 16 [--dqk 192 --dv 128]
#                     [--iters 20] [--json] [--device cuda]
# One JSON line per variant with --json:
#   {"variant": "sdpa", "fwd_ms": ..., "bwd_ms": ..., "fwd_tflops": ..., "bwd_tflops": ...}
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F


def timed(fn, iters, device):
    for _ in range(3):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters * 1e3


def run_variant(name, B, T, H, dqk, dv, iters, device, dtype):
    g = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(B, H, T, dqk, generator=g).to(device, dtype).requires_grad_()
    k = torch.randn(B, H, T, dqk, generator=g).to(device, dtype).requires_grad_()
    v = torch.randn(B, H, T, dv, generator=g).to(device, dtype).requires_grad_()
    dout = torch.randn(B, H, T, dv, generator=g).to(device, dtype)
    scale = dqk ** -0.5

    def forward():
        if name == "sdpa_pad_v":
            vp = F.pad(v, (0, dqk - dv))
            return F.scaled_dot_product_attention(q, k, vp, is_causal=True, scale=scale)[..., :dv]
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)

    def fwd_bwd():
        o = forward()
        torch.autograd.grad(o, (q, k, v), dout)

    with torch.no_grad():
        fwd_ms = timed(forward, iters, device)
    total_ms = timed(fwd_bwd, iters, device)
    bwd_ms = max(total_ms - fwd_ms, 1e-9)
    fwd_flops = 2.0 * B * H * (T * T / 2) * (dqk + dv)
    return {"variant": name, "B": B, "T": T, "H": H, "dqk": dqk, "dv": dv,
            "fwd_ms": round(fwd_ms, 4), "bwd_ms": round(bwd_ms, 4),
            "fwd_tflops": round(fwd_flops / (fwd_ms * 1e-3) / 1e12, 3),
            "bwd_tflops": round(2.5 * fwd_flops / (bwd_ms * 1e-3) / 1e12, 3),
            "torch": torch.__version__, "device": device}


def main(argv=None):
    p = argparse.ArgumentParser(description="causal SDPA timings (peer of hai bench kernels)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=4096)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--dqk", type=int, default=192)
    p.add_argument("--dv", type=int, default=128)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--device", default="cuda", help="cuda (the benchmark) or cpu (a smoke run)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        print("SKIPPED: torch sees no CUDA device")
        return 0
    if not hasattr(F, "scaled_dot_product_attention"):
        print("SKIPPED: torch %s has no scaled_dot_product_attention (needs >= 2.0)"
              % torch.__version__)
        return 0
    dtype = torch.bfloat16 if a.device == "cuda" else torch.float32
    rows = []
    for name in ("sdpa", "sdpa_pad_v"):
        try:
            rows.append(run_variant(name, a.batch, a.seq, a.heads, a.dqk, a.dv, a.iters,
                                    a.device, dtype))
        except RuntimeError as e:  # a backend refusing the shape: say so, keep going
            rows.append({"variant": name, "error": str(e).splitlines()[0]})
    for r in rows:
        if a.json:
            print(json.dumps(r))
        elif "error" in r:
            print("%-11s | failed: %s" % (r["variant"], r["error"]))
        else:
            print("%-11s | B=%d T=%d H=%d %d/%d | fwd %.3f ms %.1f TFLOP/s | bwd %.3f ms %.1f TFLOP/s"
                  % (r["variant"], r["B"], r["T"], r["H"], r["dqk"], r["dv"], r["fwd_ms"],
                     r["fwd_tflops"], r["bwd_ms"], r["bwd_tflops"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
