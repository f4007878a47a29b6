#!/usr/bin/python3
# File: tools/peers/deepseek_v2_torch.py
#
# An independent PyTorch eager implementation of DeepSeek-V2
# (MLA attention + DeepSeekMoE), written from the semantics of deepseek-ai's
# modeling_deepseek.py (the file shipped with the released checkpoints), NOT
# from HaiScale's C++. It needs only torch (>= 1.13) and numpy: the .pbtxt
# config and the safetensors files are parsed here by hand.
#
# Two jobs (docs/peers.md):
#
#  1. Benchmark peer of `hai bench train --compare-torch`:
#       deepseek_v2_torch.py --config configs/bench/small.pbtxt \
#           --threads 2 --steps 5 --warmup 1 [--json]
#     trains the config's model on random tokens (AdamW + grad clipping, the
#     config's batch geometry) and prints the median step time and tokens/s
#     (one JSON line with --json, a table otherwise; with --serve, steps on
#     demand: "steps K" on stdin runs the next K and answers their times as
#     one JSON line, for `hai bench train --rounds`). float32 on the CPU;
#     with --device cuda, GPU 0 with fp32 master weights under bf16
#     autocast, F.scaled_dot_product_attention and fused AdamW (the peer of
#     `hai_cuda bench train-cuda`, run by tools/gpu_check.sh).
#
#  2. Parity reference for HF-layout weights (config.json + *.safetensors):
#       deepseek_v2_torch.py --weights DIR --tokens FILE --seq S [--rows N] \
#           [--dump-grads OUT.safetensors]
#     prints {"cross_entropy": mean next-token CE, "tokens": count} over the
#     first N rows of S+1 tokens of a flat little-endian uint32 token file
#     (row r = tokens [r(S+1), (r+1)(S+1))), and optionally writes the
#     gradient of that mean CE (no auxiliary loss) w.r.t. every parameter,
#     under HF tensor names, as a float32 safetensors file.
import argparse
import contextlib
import json
import math
import os
import re
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Attention through F.scaled_dot_product_attention (set for --device cuda).
USE_SDPA = False


# ---------------------------------------------------------------------------
# Protobuf text format (the subset used by configs/*.pbtxt)
# ---------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<punct>[{}<>:\[\],;])
  | (?P<word>[A-Za-z0-9_.+\-]+)
""", re.VERBOSE)


def _tokenize(text, source):
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise ValueError("%s:%d: unexpected character %r" % (source, line, text[pos]))
        kind = m.lastgroup
        if kind in ("string", "punct", "word"):
            out.append((kind, m.group(kind), text.count("\n", 0, pos) + 1))
        pos = m.end()
    return out


def _unquote(s):
    body = s[1:-1]
    # Text-format escapes are C-like; decode them byte-wise so UTF-8 survives.
    return body.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def _scalar(word):
    if word in ("true", "True", "t"):
        return True
    if word in ("false", "False", "f"):
        return False
    try:
        return int(word, 0)
    except ValueError:
        pass
    try:
        return float(word.rstrip("fF") if not word.lower().endswith("inf") else word)
    except ValueError:
        return word  # an enum identifier


def parse_pbtxt(text, source="<pbtxt>"):
    """Returns {field: [values...]}; nested messages are such dicts too."""
    toks = _tokenize(text, source)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else (None, None, None)

    def take():
        t = peek()
        pos[0] += 1
        return t

    def value():
        kind, tok, line = take()
        if kind == "string":
            s = _unquote(tok)
            while peek()[0] == "string":  # adjacent strings concatenate
                s += _unquote(take()[1])
            return s
        if kind == "word":
            return _scalar(tok)
        raise ValueError("%s:%d: expected a value, got %r" % (source, line, tok))

    def message(close):
        msg = {}
        while True:
            kind, tok, line = peek()
            if kind is None:
                if close is None:
                    return msg
                raise ValueError("%s: missing %r at end of file" % (source, close))
            if kind == "punct" and tok == close:
                take()
                return msg
            if kind == "punct" and tok in (",", ";"):
                take()
                continue
            if kind != "word":
                raise ValueError("%s:%d: expected a field name, got %r" % (source, line, tok))
            take()
            name = tok
            colon = peek()[1] == ":"
            if colon:
                take()
            nk, nt, nl = peek()
            if nk == "punct" and nt in ("{", "<"):
                take()
                msg.setdefault(name, []).append(message("}" if nt == "{" else ">"))
            elif nk == "punct" and nt == "[":
                take()
                while True:
                    if peek()[1] == "]":
                        take()
                        break
                    if peek()[1] in ("{", "<"):
                        o = take()[1]
                        msg.setdefault(name, []).append(message("}" if o == "{" else ">"))
                    else:
                        msg.setdefault(name, []).append(value())
                    if peek()[1] == ",":
                        take()
            else:
                if not colon:
                    raise ValueError("%s:%d: expected ':' after %s" % (source, nl, name))
                msg.setdefault(name, []).append(value())

    return message(None)


def _last(msg, key, default=None):
    v = msg.get(key)
    return v[-1] if v else default


# ---------------------------------------------------------------------------
# Model configuration (HF DeepseekV2Config keys and defaults)
# ---------------------------------------------------------------------------

class ModelArgs:
    """DeepseekV2Config's fields. None = HF null."""

    DEFAULTS = dict(
        vocab_size=102400, hidden_size=4096, intermediate_size=11008,
        moe_intermediate_size=1407, num_hidden_layers=30, num_attention_heads=32,
        num_key_value_heads=None, n_shared_experts=None, n_routed_experts=None,
        ep_size=1, routed_scaling_factor=1.0, kv_lora_rank=512, q_lora_rank=1536,
        qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128,
        topk_method="greedy", n_group=None, topk_group=None,
        num_experts_per_tok=None, moe_layer_freq=1, first_k_dense_replace=0,
        norm_topk_prob=False, scoring_func="softmax", aux_loss_alpha=0.001,
        seq_aux=True, hidden_act="silu", max_position_embeddings=2048,
        initializer_range=0.02, rms_norm_eps=1e-6, rope_theta=10000.0,
        rope_scaling=None, attention_bias=False, attention_dropout=0.0,
        tie_word_embeddings=False)
    # Keys whose 0 means HF null (HaiScale stores null as 0 for these).
    ZERO_IS_NULL = ("q_lora_rank", "n_shared_experts", "n_routed_experts",
                    "n_group", "topk_group", "num_experts_per_tok")
    YARN_DEFAULTS = dict(original_max_position_embeddings=4096, beta_fast=32.0,
                         beta_slow=1.0, mscale=1.0, mscale_all_dim=0.0)

    def __init__(self, values, absent_q_lora_is_null):
        d = dict(self.DEFAULTS)
        if absent_q_lora_is_null:
            d["q_lora_rank"] = None
        nullable = self.ZERO_IS_NULL + ("rope_scaling", "num_key_value_heads")
        for k, v in values.items():
            if k not in d:
                continue  # keys the model does not use (bos_token_id, use_cache, ...)
            if v is not None:
                d[k] = v
            elif k in nullable:
                d[k] = None
        for k in self.ZERO_IS_NULL:
            if d[k] == 0:
                d[k] = None
        if d["topk_method"] == "gready":  # deepseek-ai's default spelling
            d["topk_method"] = "greedy"
        rs = d["rope_scaling"]
        if rs:
            rs = dict(rs)
            if "type" not in rs and "rope_type" in rs:
                rs["type"] = rs["rope_type"]
            if rs.get("type") != "yarn":
                raise ValueError("rope_scaling type %r: only 'yarn' is supported" % rs.get("type"))
            for k, v in self.YARN_DEFAULTS.items():
                if rs.get(k) is None:
                    rs[k] = v
            d["rope_scaling"] = rs
        else:
            d["rope_scaling"] = None
        if d["num_key_value_heads"] is None:
            d["num_key_value_heads"] = d["num_attention_heads"]
        if d["hidden_act"] != "silu" or d["scoring_func"] != "softmax":
            raise ValueError("only hidden_act silu and scoring_func softmax are supported")
        if d["tie_word_embeddings"]:
            raise ValueError("tie_word_embeddings is not supported (DeepSeek-V2 is untied)")
        self.__dict__.update(d)

    @classmethod
    def from_pbtxt_model(cls, model_msg):
        vals = {}
        for k, v in model_msg.items():
            if k == "rope_scaling":
                vals[k] = {kk: vv[-1] for kk, vv in v[-1].items()}
            else:
                vals[k] = v[-1]
        return cls(vals, absent_q_lora_is_null=True)

    @classmethod
    def from_hf_json(cls, path):
        with open(path) as f:
            return cls(json.load(f), absent_q_lora_is_null=False)

    def is_moe_layer(self, i):
        return (self.n_routed_experts is not None and i >= self.first_k_dense_replace
                and i % self.moe_layer_freq == 0)


# ---------------------------------------------------------------------------
# Rotary embedding (plain and YaRN)
# ---------------------------------------------------------------------------

def yarn_get_mscale(scale, mscale):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def rope_inv_freq(dim, base, rs):
    """The dim/2 inverse frequencies, computed in float64."""
    exponents = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    extrapolated = 1.0 / (base ** exponents)
    if rs is None:
        return extrapolated
    factor = float(rs["factor"])
    interpolated = extrapolated / factor
    orig = float(rs["original_max_position_embeddings"])

    def correction_dim(rotations):
        # The rotary dimension whose wavelength fits `rotations` times into orig.
        return dim * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

    lo = max(math.floor(correction_dim(float(rs["beta_fast"]))), 0)
    hi = min(math.ceil(correction_dim(float(rs["beta_slow"]))), dim - 1)
    if lo == hi:
        hi += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float64) - lo) / (hi - lo)).clamp(0, 1)
    keep_extrapolated = 1.0 - ramp
    return interpolated * (1 - keep_extrapolated) + extrapolated * keep_extrapolated


def rope_tables(args, T):
    """cos/sin of shape [T, D] (frequencies repeated for both halves)."""
    D = args.qk_rope_head_dim
    rs = args.rope_scaling
    inv = rope_inv_freq(D, float(args.rope_theta), rs)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    ang = torch.cat([ang, ang], dim=-1)
    scale = 1.0
    if rs is not None:
        scale = (yarn_get_mscale(float(rs["factor"]), float(rs["mscale"])) /
                 yarn_get_mscale(float(rs["factor"]), float(rs["mscale_all_dim"])))
    return (ang.cos() * scale).float(), (ang.sin() * scale).float()


def apply_rope(x, cos, sin):
    """x [..., T, D] with rotation pairs interleaved (x0,x1),(x2,x3),...:
    de-interleave to [evens | odds], then rotate halves."""
    D = x.shape[-1]
    x = x.reshape(*x.shape[:-1], D // 2, 2).transpose(-1, -2).reshape(x.shape)
    first, second = x[..., : D // 2], x[..., D // 2:]
    rotated = torch.cat([-second, first], dim=-1)
    return x * cos + rotated * sin


# ---------------------------------------------------------------------------
# Layers (attribute names = HF tensor names)
# ---------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, n, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def _linear(i, o):
    return nn.Linear(i, o, bias=False)


class MLA(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.H = a.num_attention_heads
        self.nope, self.rope, self.vdim = a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim
        self.qdim = self.nope + self.rope
        self.kv_lora_rank = a.kv_lora_rank
        self.q_lora_rank = a.q_lora_rank
        h = a.hidden_size
        if a.q_lora_rank is None:
            self.q_proj = _linear(h, self.H * self.qdim)
        else:
            self.q_a_proj = _linear(h, a.q_lora_rank)
            self.q_a_layernorm = RMSNorm(a.q_lora_rank)  # eps 1e-6, not rms_norm_eps
            self.q_b_proj = _linear(a.q_lora_rank, self.H * self.qdim)
        self.kv_a_proj_with_mqa = _linear(h, a.kv_lora_rank + self.rope)
        self.kv_a_layernorm = RMSNorm(a.kv_lora_rank)   # eps 1e-6, not rms_norm_eps
        self.kv_b_proj = _linear(a.kv_lora_rank, self.H * (self.nope + self.vdim))
        self.o_proj = _linear(self.H * self.vdim, h)
        self.scale = self.qdim ** -0.5
        rs = a.rope_scaling
        if rs is not None and rs.get("mscale_all_dim"):
            m = yarn_get_mscale(float(rs["factor"]), float(rs["mscale_all_dim"]))
            self.scale = self.scale * m * m

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        H = self.H
        if self.q_lora_rank is None:
            q = self.q_proj(x)
        else:
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
        q = q.view(B, T, H, self.qdim).transpose(1, 2)
        q_nope, q_pe = q.split([self.nope, self.rope], dim=-1)
        ckv, k_pe = self.kv_a_proj_with_mqa(x).split([self.kv_lora_rank, self.rope], dim=-1)
        k_pe = k_pe.reshape(B, T, 1, self.rope).transpose(1, 2)        # one shared rope key
        kv = self.kv_b_proj(self.kv_a_layernorm(ckv)).view(B, T, H, self.nope + self.vdim)
        k_nope, v = kv.transpose(1, 2).split([self.nope, self.vdim], dim=-1)
        q_pe = apply_rope(q_pe, cos, sin)
        k_pe = apply_rope(k_pe, cos, sin)
        q = torch.cat([q_nope, q_pe], dim=-1)
        k = torch.cat([k_nope, k_pe.expand(B, H, T, self.rope)], dim=-1)
        if USE_SDPA:
            # PyTorch's fused attention (GPU benchmark mode): what an eager
            # model on a GPU uses.
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        else:
            s = torch.matmul(q, k.transpose(-1, -2)) * self.scale
            s = s.masked_fill(mask, float("-inf"))
            p = torch.softmax(s, dim=-1, dtype=torch.float32).to(q.dtype)
            o = torch.matmul(p, v)
        o = o.transpose(1, 2).reshape(B, T, H * self.vdim)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.gate_proj = _linear(hidden, inter)
        self.up_proj = _linear(hidden, inter)
        self.down_proj = _linear(inter, hidden)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MoEGate(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.E, self.k = a.n_routed_experts, a.num_experts_per_tok
        self.method = a.topk_method
        self.n_group, self.topk_group = a.n_group, a.topk_group
        self.norm_topk_prob = a.norm_topk_prob
        self.routed_scaling_factor = a.routed_scaling_factor
        self.weight = nn.Parameter(torch.empty(self.E, a.hidden_size))

    def forward(self, x):
        """x [N, h] -> (idx [N, k], weight [N, k], scores [N, E])."""
        scores = F.linear(x.float(), self.weight.float()).softmax(dim=-1, dtype=torch.float32)
        if self.method == "greedy":
            w, idx = torch.topk(scores, k=self.k, dim=-1, sorted=False)
        elif self.method == "group_limited_greedy":
            N = scores.shape[0]
            best_in_group = scores.view(N, self.n_group, -1).max(dim=-1).values
            kept = torch.topk(best_in_group, k=self.topk_group, dim=-1, sorted=False)[1]
            group_mask = torch.zeros_like(best_in_group).scatter_(1, kept, 1.0).bool()
            expert_mask = group_mask.unsqueeze(-1).expand(N, self.n_group, self.E // self.n_group)
            masked = scores.masked_fill(~expert_mask.reshape(N, self.E), 0.0)
            w, idx = torch.topk(masked, k=self.k, dim=-1, sorted=False)
        else:
            raise ValueError("unknown topk_method %r" % self.method)
        if self.k > 1 and self.norm_topk_prob:
            w = w / (w.sum(dim=-1, keepdim=True) + 1e-20)
        else:
            w = w * self.routed_scaling_factor
        return idx, w, scores


class MoE(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.E, self.k = a.n_routed_experts, a.num_experts_per_tok
        self.alpha, self.seq_aux = a.aux_loss_alpha, a.seq_aux
        self.experts = nn.ModuleList(
            [MLP(a.hidden_size, a.moe_intermediate_size) for _ in range(self.E)])
        self.gate = MoEGate(a)
        if a.n_shared_experts is not None:
            self.shared_experts = MLP(a.hidden_size, a.moe_intermediate_size * a.n_shared_experts)
        else:
            self.shared_experts = None
        self.aux_loss = None

    def forward(self, x):
        B, T, h = x.shape
        flat = x.reshape(B * T, h)
        idx, w, scores = self.gate(flat)
        # Group the (token, slot) assignments by expert: one gather, one
        # batched MLP per expert, one weighted scatter-add back.
        flat_idx = idx.reshape(-1)
        order = torch.argsort(flat_idx)
        counts = torch.bincount(flat_idx, minlength=self.E).tolist()
        token_of = order // self.k
        xs = flat.index_select(0, token_of)
        outs = []
        for e, chunk in enumerate(xs.split(counts)):
            if counts[e]:
                outs.append(self.experts[e](chunk))
        ys = torch.cat(outs) * w.reshape(-1)[order].unsqueeze(-1).to(x.dtype)
        y = torch.zeros_like(flat).index_add(0, token_of, ys).view(B, T, h)
        self.aux_loss = None
        if self.training and self.alpha > 0:
            self.aux_loss = self._balance_loss(idx, scores, B, T)
        if self.shared_experts is not None:
            y = y + self.shared_experts(x)
        return y

    def _balance_loss(self, idx, scores, B, T):
        if self.seq_aux:
            counts = torch.zeros(B, self.E, dtype=scores.dtype, device=scores.device)
            counts.scatter_add_(1, idx.view(B, T * self.k),
                                torch.ones(B, T * self.k, dtype=scores.dtype, device=scores.device))
            f = counts / (T * self.k / self.E)
            return (f * scores.view(B, T, self.E).mean(dim=1)).sum(dim=1).mean() * self.alpha
        f = F.one_hot(idx.view(-1), num_classes=self.E).float().mean(0) * self.E
        return (scores.mean(0) * f).sum() * self.alpha


class DecoderLayer(nn.Module):
    def __init__(self, a, i):
        super().__init__()
        self.self_attn = MLA(a)
        self.mlp = MoE(a) if a.is_moe_layer(i) else MLP(a.hidden_size, a.intermediate_size)
        self.input_layernorm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(a.hidden_size, a.rms_norm_eps)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab_size, a.hidden_size)
        self.layers = nn.ModuleList([DecoderLayer(a, i) for i in range(a.num_hidden_layers)])
        self.norm = RMSNorm(a.hidden_size, a.rms_norm_eps)


class DeepseekV2ForCausalLM(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.args = a
        self.model = Backbone(a)
        self.lm_head = _linear(a.hidden_size, a.vocab_size)
        self._tables = {}
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, mean=0.0, std=a.initializer_range)

    def _rope_and_mask(self, T, device):
        key = (T, str(device))
        if key not in self._tables:
            cos, sin = rope_tables(self.args, T)
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True above the diagonal
            self._tables[key] = (cos.to(device), sin.to(device), mask.to(device))
        return self._tables[key]

    def forward(self, tokens):
        """tokens [B, T] int64 -> float32 logits [B, T, V]."""
        cos, sin, mask = self._rope_and_mask(tokens.shape[1], tokens.device)
        x = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.model.norm(x)).float()

    def aux_loss(self):
        total = None
        for layer in self.model.layers:
            a = getattr(layer.mlp, "aux_loss", None)
            if a is not None:
                total = a if total is None else total + a
        return total


# ---------------------------------------------------------------------------
# safetensors (by hand: 8-byte LE header length, JSON header, raw data)
# ---------------------------------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = blob[base + b: base + e]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif dt == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4")
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "F64":
            arr = np.frombuffer(raw, dtype="<f8").astype(np.float32)
        else:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype="<f4")
        raw = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_hf_weights(model, folder):
    files = ([os.path.join(folder, "model.safetensors")]
             if os.path.exists(os.path.join(folder, "model.safetensors")) else
             sorted(os.path.join(folder, f) for f in os.listdir(folder)
                    if f.endswith(".safetensors")))
    if not files:
        raise FileNotFoundError("%s: no *.safetensors" % folder)
    found = {}
    for f in files:
        found.update(read_safetensors(f))
    params = dict(model.named_parameters())
    missing = [n for n in params if n not in found]
    if missing:
        raise KeyError("%s: missing tensors: %s" % (folder, ", ".join(missing[:10])))
    extra = [n for n in found if n not in params]
    if extra:
        print("note: ignoring %d unused tensors (e.g. %s)" % (len(extra), extra[0]), file=sys.stderr)
    with torch.no_grad():
        for n, p in params.items():
            t = torch.from_numpy(found[n])
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError("%s: shape %s, model expects %s" % (n, tuple(t.shape), tuple(p.shape)))
            p.copy_(t)


# ---------------------------------------------------------------------------
# Parity mode
# ---------------------------------------------------------------------------

def run_parity(opts):
    a = ModelArgs.from_hf_json(os.path.join(opts.weights, "config.json"))
    torch.manual_seed(0)
    model = DeepseekV2ForCausalLM(a)
    load_hf_weights(model, opts.weights)
    model.eval()  # no dropout (none anyway) and no balance loss
    S = opts.seq
    toks = np.fromfile(opts.tokens, dtype="<u4")
    total_rows = len(toks) // (S + 1)
    rows = total_rows if opts.rows <= 0 else min(opts.rows, total_rows)
    if rows == 0:
        raise ValueError("%s: fewer than %d tokens" % (opts.tokens, S + 1))
    data = toks[: rows * (S + 1)].astype(np.int64).reshape(rows, S + 1)
    if data.max() >= a.vocab_size:
        raise ValueError("%s: token id %d >= vocab_size %d" % (opts.tokens, data.max(), a.vocab_size))
    data = torch.from_numpy(data)
    n_tokens = rows * S
    want_grads = bool(opts.dump_grads)
    ce_sum = 0.0
    for first in range(0, rows, opts.batch):
        chunk = data[first: first + opts.batch]
        with torch.set_grad_enabled(want_grads):
            logits = model(chunk[:, :-1])
            per_tok = F.cross_entropy(logits.reshape(-1, a.vocab_size), chunk[:, 1:].reshape(-1),
                                      reduction="none")
            ce_sum += float(per_tok.double().sum())
            if want_grads:
                (per_tok.sum() / n_tokens).backward()
    ce = ce_sum / n_tokens
    if want_grads:
        grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)).detach().numpy()
                 for n, p in model.named_parameters()}
        write_safetensors(opts.dump_grads, grads)
    print(json.dumps({"cross_entropy": ce, "tokens": n_tokens, "rows": rows}))


# ---------------------------------------------------------------------------
# Benchmark mode
# ---------------------------------------------------------------------------

def lr_at(step, total, sched, lr):
    kind = _last(sched, "type", "CONSTANT")
    warm = int(_last(sched, "warmup_steps", 0))
    if warm > 0 and step < warm:
        return lr * (step + 1) / warm
    if kind in ("WARMUP_COSINE", 1):
        floor = float(_last(sched, "min_lr_ratio", 0.1))
        span = max(1, total - warm - 1)
        frac = min(1.0, (step - warm) / span)
        return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))
    return lr  # CONSTANT (MULTISTEP's drops do not change the cost of a step)


def run_bench(opts):
    with open(opts.config) as f:
        cfg = parse_pbtxt(f.read(), opts.config)
    a = ModelArgs.from_pbtxt_model(_last(cfg, "model", {}))
    train = _last(cfg, "train", {})
    optc = _last(cfg, "optimizer", {})
    sched = _last(cfg, "schedule", {})
    B = int(_last(train, "global_batch_size", 8))
    T = int(_last(train, "seq_len", 256))
    micro = int(_last(train, "micro_batch_size", 0)) or B
    if B % micro:
        raise ValueError("global_batch_size %d not a multiple of micro_batch_size %d" % (B, micro))
    accum = B // micro
    if _last(optc, "type", "ADAMW") not in ("ADAMW", 0):
        raise ValueError("the peer implements optimizer.type ADAMW only")
    lr = float(_last(optc, "lr", 3e-4))
    clip = float(_last(optc, "grad_clip", 1.0))
    torch.manual_seed(int(_last(train, "seed", 0)))
    cuda = opts.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("SKIPPED: torch sees no CUDA device")
        return
    global USE_SDPA
    # F.scaled_dot_product_attention exists from torch 2.0 on.
    USE_SDPA = cuda and hasattr(F, "scaled_dot_product_attention")
    model = DeepseekV2ForCausalLM(a).to(opts.device)
    model.train()
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": float(_last(optc, "weight_decay", 0.1))},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, betas=(float(_last(optc, "beta1", 0.9)), float(_last(optc, "beta2", 0.95))),
        eps=float(_last(optc, "eps", 1e-8)), **({"fused": True} if cuda else {"foreach": True}))
    total = opts.warmup + opts.steps
    gen = torch.Generator().manual_seed(1234)
    data = torch.randint(0, a.vocab_size, (total, B, T + 1), generator=gen).to(opts.device)
    # GPU: fp32 master weights with bf16 autocast (the mixed precision of
    # HaiScale's CUDA path); CPU: plain fp32.
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cuda
                else contextlib.nullcontext())
    def one_step(s):
        """Step s (0-based); returns its seconds and the loss."""
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for m in range(accum):
            batch = data[s, m * micro:(m + 1) * micro]
            with autocast:
                logits = model(batch[:, :-1])
                loss = F.cross_entropy(logits.reshape(-1, a.vocab_size).float(),
                                       batch[:, 1:].reshape(-1))
                aux = model.aux_loss()
                if aux is not None:
                    loss = loss + aux
            (loss / accum).backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        for g in opt.param_groups:
            g["lr"] = lr_at(s, total, sched, lr)
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0, loss

    if opts.serve:
        # Serve mode (`hai bench train --compare-torch --rounds R`): commands
        # on stdin, "steps K" runs the next K steps and answers one JSON line
        # with their milliseconds, so that hai can interleave its rounds with
        # ours; EOF ends. --warmup + --steps bounds the steps served.
        served = 0
        for line in sys.stdin:
            words = line.split()
            if len(words) != 2 or words[0] != "steps" or not words[1].isdigit():
                print(json.dumps({"error": "expected 'steps K', got %r" % line.strip()}),
                      flush=True)
                continue
            k = int(words[1])
            if served + k > total:
                print(json.dumps({"error": "asked for step %d of %d" % (served + k, total)}),
                      flush=True)
                continue
            ms = [round(one_step(served + i)[0] * 1e3, 3) for i in range(k)]
            served += k
            print(json.dumps({"step_ms": ms}), flush=True)
        return
    times = []
    for s in range(total):
        dt, loss = one_step(s)
        if s >= opts.warmup:
            times.append(dt)
        if not opts.json:
            print("step %3d%s | loss %.4f | %.1f ms" % (s, " (warmup)" if s < opts.warmup else "",
                                                        float(loss), dt * 1e3))
    med = statistics.median(times) if times else float("nan")
    tps = B * T / med
    if opts.json:
        print(json.dumps({"tokens_per_s": round(tps, 2), "step_ms": round(med * 1e3, 3),
                          "threads": torch.get_num_threads(), "params": n_params,
                          "device": opts.device}))
        return
    print("pytorch peer | %s | %.2fM params | batch %d x %d | %d threads | torch %s"
          % (opts.config, n_params / 1e6, B, T, torch.get_num_threads(), torch.__version__))
    print("%-10s | %10s | %12s" % ("impl", "ms/step", "tokens/s"))
    print("%-10s | %10.1f | %12.1f" % ("pytorch", med * 1e3, tps))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__ or "DeepSeek-V2 PyTorch peer")
    p.add_argument("--config", help="run config (.pbtxt): benchmark mode")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    p.add_argument("--steps", type=int, default=10, help="timed training steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    p.add_argument("--serve", action="store_true",
                   help="benchmark mode: run steps on 'steps K' commands from stdin (hai's rounds)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="benchmark mode: cuda = bf16 autocast + SDPA + fused AdamW on GPU 0")
    p.add_argument("--weights", help="HF folder (config.json + safetensors): parity mode")
    p.add_argument("--tokens", help="flat little-endian uint32 token file (parity mode)")
    p.add_argument("--seq", type=int, default=256, help="sequence length S (rows are S+1 tokens)")
    p.add_argument("--rows", type=int, default=0, help="first N rows only (0 = all)")
    p.add_argument("--batch", type=int, default=8, help="rows per forward (parity mode)")
    p.add_argument("--dump-grads", default="", help="write d(mean CE)/d(param) here (safetensors)")
    opts = p.parse_args(argv)
    if opts.threads > 0:
        torch.set_num_threads(opts.threads)
    if opts.weights:
        if not opts.tokens:
            p.error("--weights needs --tokens")
        run_parity(opts)
    elif opts.config:
        run_bench(opts)
    else:
        p.error("give --config (benchmark) or --weights/--tokens (parity)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
