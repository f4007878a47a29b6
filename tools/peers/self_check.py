#!/usr/bin/python3
# File: tools/peers/self_check.py
#
# Sanity checks of tools/peers/deepseek_v2_torch.py without HaiScale:
#  - the batched model against a slow, loop-based restatement of the same
#    semantics (per-token RoPE formula, per-(token, slot) expert loop as in
#    HF's training path, per-head attention), on random weights for several
#    config variants (q_lora / no q_lora, YaRN, group_limited_greedy,
#    norm_topk_prob);
#  - the safetensors writer/reader round trip (F32 and BF16) and the parity
#    mode end to end (--weights/--tokens/--dump-grads) against the in-process
#    loss and autograd gradients.
# Usage: /usr/bin/python3 tools/peers/self_check.py   (exit 0 = all passed)
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deepseek_v2_torch as peer  # noqa: E402

BASE = dict(vocab_size=64, hidden_size=32, intermediate_size=48, moe_intermediate_size=16,
            num_hidden_layers=3, num_attention_heads=4, kv_lora_rank=12, qk_nope_head_dim=8,
            qk_rope_head_dim=6, v_head_dim=10, first_k_dense_replace=1, moe_layer_freq=1,
            n_routed_experts=8, num_experts_per_tok=3, n_shared_experts=2,
            rms_norm_eps=1e-5, max_position_embeddings=64)
VARIANTS = {
    "q_lora+yarn+group": dict(q_lora_rank=10, topk_method="group_limited_greedy", n_group=4,
                              topk_group=2, norm_topk_prob=True,
                              rope_scaling=dict(type="yarn", factor=4.0,
                                                original_max_position_embeddings=8,
                                                mscale=0.707, mscale_all_dim=0.707)),
    "plain_q+greedy": dict(q_lora_rank=None, topk_method="greedy", routed_scaling_factor=1.5,
                           moe_layer_freq=2),
}


def slow_rms(x, w, eps):
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def slow_forward(m, a, tokens):
    """Loop-based restatement (one sequence at a time)."""
    B, T = tokens.shape
    D = a.qk_rope_head_dim
    inv = peer.rope_inv_freq(D, a.rope_theta, a.rope_scaling)
    sc = 1.0
    if a.rope_scaling:
        rs = a.rope_scaling
        sc = peer.yarn_get_mscale(rs["factor"], rs["mscale"]) / peer.yarn_get_mscale(
            rs["factor"], rs["mscale_all_dim"])

    def rope(v, p):  # v: [D] interleaved pairs -> half-split output
        out = torch.empty_like(v)
        for i in range(D // 2):
            c = math.cos(p * float(inv[i])) * sc
            s = math.sin(p * float(inv[i])) * sc
            out[i] = v[2 * i] * c - v[2 * i + 1] * s
            out[i + D // 2] = v[2 * i + 1] * c + v[2 * i] * s
        return out

    P = dict(m.named_parameters())
    H, dn, dv = a.num_attention_heads, a.qk_nope_head_dim, a.v_head_dim
    logits = []
    for b in range(B):
        x = P["model.embed_tokens.weight"][tokens[b]]
        for li in range(a.num_hidden_layers):
            pre = "model.layers.%d." % li
            h = slow_rms(x, P[pre + "input_layernorm.weight"], a.rms_norm_eps)
            if a.q_lora_rank:
                q = slow_rms(h @ P[pre + "self_attn.q_a_proj.weight"].T,
                             P[pre + "self_attn.q_a_layernorm.weight"], 1e-6)
                q = q @ P[pre + "self_attn.q_b_proj.weight"].T
            else:
                q = h @ P[pre + "self_attn.q_proj.weight"].T
            ckv = h @ P[pre + "self_attn.kv_a_proj_with_mqa.weight"].T
            c, kpe = ckv[:, :a.kv_lora_rank], ckv[:, a.kv_lora_rank:]
            kv = slow_rms(c, P[pre + "self_attn.kv_a_layernorm.weight"], 1e-6) @ \
                P[pre + "self_attn.kv_b_proj.weight"].T
            scale = (dn + D) ** -0.5
            if a.rope_scaling and a.rope_scaling.get("mscale_all_dim"):
                ms = peer.yarn_get_mscale(a.rope_scaling["factor"], a.rope_scaling["mscale_all_dim"])
                scale *= ms * ms
            heads = []
            for hh in range(H):
                qh = q[:, hh * (dn + D):(hh + 1) * (dn + D)]
                kvh = kv[:, hh * (dn + dv):(hh + 1) * (dn + dv)]
                qs = torch.stack([torch.cat([qh[t, :dn], rope(qh[t, dn:], t)]) for t in range(T)])
                ks = torch.stack([torch.cat([kvh[t, :dn], rope(kpe[t], t)]) for t in range(T)])
                vs = kvh[:, dn:]
                rows = []
                for t in range(T):
                    sc_t = (ks[:t + 1] @ qs[t]) * scale
                    rows.append(torch.softmax(sc_t, 0) @ vs[:t + 1])
                heads.append(torch.stack(rows))
            x = x + torch.cat(heads, -1) @ P[pre + "self_attn.o_proj.weight"].T
            h = slow_rms(x, P[pre + "post_attention_layernorm.weight"], a.rms_norm_eps)

            def mlp(z, p):
                return (F.silu(z @ P[p + "gate_proj.weight"].T) * (z @ P[p + "up_proj.weight"].T)) \
                    @ P[p + "down_proj.weight"].T

            if a.is_moe_layer(li):
                scores = torch.softmax(h @ P[pre + "mlp.gate.weight"].T, -1)
                k = a.num_experts_per_tok
                out = torch.zeros_like(h)
                for t in range(T):
                    s = scores[t].clone()
                    if a.topk_method == "group_limited_greedy":
                        g = s.view(a.n_group, -1).max(-1).values
                        keep = set(torch.topk(g, a.topk_group).indices.tolist())
                        per = a.n_routed_experts // a.n_group
                        s = torch.stack([s[e] if e // per in keep else s[e] * 0
                                         for e in range(a.n_routed_experts)])
                    w, idx = torch.topk(s, k)
                    if k > 1 and a.norm_topk_prob:
                        w = w / (w.sum() + 1e-20)
                    else:
                        w = w * a.routed_scaling_factor
                    for j in range(k):
                        out[t] = out[t] + w[j] * mlp(h[t:t + 1], pre + "mlp.experts.%d." % int(idx[j]))[0]
                if a.n_shared_experts:
                    out = out + mlp(h, pre + "mlp.shared_experts.")
                x = x + out
            else:
                x = x + mlp(h, pre + "mlp.")
        x = slow_rms(x, P["model.norm.weight"], a.rms_norm_eps)
        logits.append(x @ P["lm_head.weight"].T)
    return torch.stack(logits)


def randomize(m):
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def main():
    torch.manual_seed(0)
    failures = 0
    for name, var in VARIANTS.items():
        a = peer.ModelArgs(dict(BASE, **var), absent_q_lora_is_null=True)
        m = peer.DeepseekV2ForCausalLM(a).eval()
        randomize(m)
        tokens = torch.randint(0, a.vocab_size, (2, 9))
        with torch.no_grad():
            fast = m(tokens)
            slow = slow_forward(m, a, tokens)
        err = float((fast - slow).abs().max() / slow.abs().max())
        ok = err < 1e-5
        failures += not ok
        print("%-20s batched vs loop max rel err %.2e %s" % (name, err, "ok" if ok else "FAIL"))

        # Parity mode end to end, F32 and BF16 weights.
        with tempfile.TemporaryDirectory() as d:
            cfg = dict(BASE, **var)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            w = {n: p.detach().numpy() for n, p in m.named_parameters()}
            peer.write_safetensors(os.path.join(d, "model.safetensors"), w)
            back = peer.read_safetensors(os.path.join(d, "model.safetensors"))
            assert all(np.array_equal(back[n], w[n]) for n in w), "F32 round trip"
            S, R = 7, 3
            toks = np.random.RandomState(1).randint(0, a.vocab_size, size=R * (S + 1) + 5)
            toks.astype("<u4").tofile(os.path.join(d, "tok.bin"))
            gpath = os.path.join(d, "grads.safetensors")
            out = subprocess.run([sys.executable, peer.__file__, "--weights", d, "--tokens",
                                  os.path.join(d, "tok.bin"), "--seq", str(S), "--rows", str(R),
                                  "--batch", "2", "--dump-grads", gpath],
                                 check=True, capture_output=True, text=True).stdout
            got = json.loads(out.strip().splitlines()[-1])
            rows = torch.from_numpy(toks[:R * (S + 1)].reshape(R, S + 1).astype(np.int64))
            m.zero_grad()
            logits = m(rows[:, :-1])
            ce = F.cross_entropy(logits.reshape(-1, a.vocab_size), rows[:, 1:].reshape(-1))
            ce.backward()
            ok = abs(got["cross_entropy"] - float(ce)) < 1e-5 * float(ce) and got["tokens"] == R * S
            grads = peer.read_safetensors(gpath)
            gerr = max(float(np.abs(grads[n] - p.grad.numpy()).max() /
                             (np.abs(p.grad.numpy()).max() + 1e-30))
                       for n, p in m.named_parameters() if p.grad is not None)
            ok = ok and gerr < 1e-4 and set(grads) == set(w)
            failures += not ok
            print("%-20s parity mode ce %.6f vs %.6f, grad max rel err %.2e %s"
                  % (name, got["cross_entropy"], float(ce), gerr, "ok" if ok else "FAIL"))
            # BF16 file: values must equal the bf16-rounded (truncated) weights.
            hdr, blobs, off = {}, [], 0
            for n in sorted(w):
                u = w[n].astype("<f4").view("<u4") >> 16
                raw = u.astype("<u2").tobytes()
                hdr[n] = {"dtype": "BF16", "shape": list(w[n].shape), "data_offsets": [off, off + len(raw)]}
                blobs.append(raw)
                off += len(raw)
            hb = json.dumps(hdr).encode()
            with open(os.path.join(d, "bf16.safetensors"), "wb") as f:
                f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
            b16 = peer.read_safetensors(os.path.join(d, "bf16.safetensors"))
            ok = all(np.array_equal(b16[n], (w[n].view("<u4") & 0xFFFF0000).view("<f4")) for n in w)
            failures += not ok
            print("%-20s bf16 reader %s" % (name, "ok" if ok else "FAIL"))
    print("FAILED" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
