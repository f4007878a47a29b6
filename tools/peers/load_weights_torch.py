#!/usr/bin/python3
# File: tools/peers/load_weights_torch.py
#
# Weight-loading benchmark helpers (docs/benchmarks.md, "Loading released
# weights").
#
#  1. Make a DeepSeek-V2 folder of random weights from a config.json without
#     holding the model in memory (tensors are generated and written one at
#     a time, names and shapes as Hugging Face's DeepseekV2ForCausalLM):
#       load_weights_torch.py make --config-json CONFIG.json --out DIR \
#           [--dtype bf16|f32] [--seed 0]
#     writes DIR/config.json and DIR/model.safetensors. Multi-GB files stay
#     out of the repository: generate them under /tmp.
#
#  2. The PyTorch peer of `hai eval` / `hai train --init-from` start-up:
#       load_weights_torch.py load --weights DIR [--threads N] [--json]
#     loads DIR/model.safetensors with the `safetensors` library (what
#     transformers uses) and copies every tensor into a float32 tensor of
#     its own (what hai does into its arena), and prints the wall time and
#     peak RSS (one JSON line with --json).
#
# Needs torch and numpy (system packages) and, for `load`, the PyPI
# `safetensors` package (tools/setup.sh --peers installs it in the peers'
# venv: /opt/haiscale/peers-venv/bin/python3).
import argparse
import json
import os
import resource
import struct
import sys
import time


def param_shapes(c):
    """(name, shape) of every parameter of DeepseekV2ForCausalLM, HF order."""
    C, V = c["hidden_size"], c["vocab_size"]
    H = c["num_attention_heads"]
    nope, rope, dv = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    L, Q = c["kv_lora_rank"], c.get("q_lora_rank")
    out = [("model.embed_tokens.weight", [V, C])]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        if Q:
            out += [(a + "q_a_proj.weight", [Q, C]), (a + "q_a_layernorm.weight", [Q]),
                    (a + "q_b_proj.weight", [H * (nope + rope), Q])]
        else:
            out += [(a + "q_proj.weight", [H * (nope + rope), C])]
        out += [(a + "kv_a_proj_with_mqa.weight", [L + rope, C]),
                (a + "kv_a_layernorm.weight", [L]),
                (a + "kv_b_proj.weight", [H * (nope + dv), L]),
                (a + "o_proj.weight", [C, H * dv])]
        moe = (c.get("n_routed_experts") and i >= c.get("first_k_dense_replace", 0)
               and i % c.get("moe_layer_freq", 1) == 0)
        m = p + "mlp."
        if moe:
            I = c["moe_intermediate_size"]
            out.append((m + "gate.weight", [c["n_routed_experts"], C]))
            for e in range(c["n_routed_experts"]):
                x = f"{m}experts.{e}."
                out += [(x + "gate_proj.weight", [I, C]), (x + "up_proj.weight", [I, C]),
                        (x + "down_proj.weight", [C, I])]
            if c.get("n_shared_experts"):
                Is = I * c["n_shared_experts"]
                x = m + "shared_experts."
                out += [(x + "gate_proj.weight", [Is, C]), (x + "up_proj.weight", [Is, C]),
                        (x + "down_proj.weight", [C, Is])]
        else:
            I = c["intermediate_size"]
            out += [(m + "gate_proj.weight", [I, C]), (m + "up_proj.weight", [I, C]),
                    (m + "down_proj.weight", [C, I])]
        out += [(p + "input_layernorm.weight", [C]), (p + "post_attention_layernorm.weight", [C])]
    out += [("model.norm.weight", [C]), ("lm_head.weight", [V, C])]
    return out


def make(args):
    import numpy as np
    with open(args.config_json) as f:
        c = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    esize = 2 if args.dtype == "bf16" else 4
    shapes = sorted(param_shapes(c))  # safetensors stores tensors in name order
    header, offset = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape)) * esize
        header[name] = {"dtype": "BF16" if esize == 2 else "F32", "shape": shape,
                        "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(args.seed)
    std = c.get("initializer_range", 0.02)
    tmp = os.path.join(args.out, "model.safetensors.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name, shape in shapes:
            n = int(np.prod(shape))
            ones = name.endswith("norm.weight")
            for first in range(0, n, 1 << 24):  # 64 MB of f32 at a time
                k = min(1 << 24, n - first)
                x = np.ones(k, np.float32) if ones else (
                    rng.standard_normal(k, np.float32) * np.float32(std))
                if esize == 2:  # bf16: round to nearest even
                    u = x.view(np.uint32)
                    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
                    f.write(u.astype(np.uint16).tobytes())
                else:
                    f.write(x.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(args.out, "model.safetensors"))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    total = sum(int(np.prod(s)) for _, s in shapes)
    print(f"{args.out}: {len(shapes)} tensors, {total / 1e9:.3f}B parameters, "
          f"{(offset + len(h) + 8) / 1e9:.2f} GB {args.dtype}")


def load(args):
    import torch
    from safetensors.torch import load_file
    if args.threads:
        torch.set_num_threads(args.threads)
    path = os.path.join(args.weights, "model.safetensors")
    t0 = time.perf_counter()
    state = load_file(path)
    # Into float32 tensors of their own, as hai fills its parameter arena
    # (for an F32 file load_file's tensors may still be unread file pages).
    state = {k: torch.empty(v.shape, dtype=torch.float32).copy_(v) for k, v in state.items()}
    seconds = time.perf_counter() - t0
    params = sum(v.numel() for v in state.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r = {"peer": "torch " + torch.__version__ + " + safetensors", "seconds": round(seconds, 3),
         "peak_rss_mib": round(peak_mib, 1), "parameters": params,
         "file_bytes": os.path.getsize(path)}
    if args.json:
        print(json.dumps(r))
    else:
        print(f"loaded {params / 1e9:.3f}B parameters in {seconds:.2f} s, "
              f"peak RSS {peak_mib:.0f} MiB")


def main():
    ap = argparse.ArgumentParser(description="weight-loading benchmark helpers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--config-json", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    m.add_argument("--seed", type=int, default=0)
    l = sub.add_parser("load")
    l.add_argument("--weights", required=True)
    l.add_argument("--threads", type=int, default=0)
    l.add_argument("--json", action="store_true")
    args = ap.parse_args()
    make(args) if args.cmd == "make" else load(args)


if __name__ == "__main__":
    sys.exit(main())
