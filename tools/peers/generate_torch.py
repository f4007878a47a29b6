#!/usr/bin/python3
# File: tools/peers/generate_torch.py
#
# PyTorch eager peer of `hai bench generate`: greedy decoding of
# DeepSeek-V2 with a standard KV cache, the way Hugging Face's
# modeling_deepseek.py caches MLA — per layer, per head, the full key
# (nope + rope) and value after kv_b_proj — on the model of
# deepseek_v2_torch.py (same folder) and the same HF weights.
#
#   generate_torch.py --weights DIR --batch B --prompt-len P --new-tokens N \
#       [--repeats R] [--threads T] [--json]
#
# Prompts are B rows of P random tokens (Philox-independent: numpy seed 0;
# the peer only needs the same shapes). Each repeat prefills the prompts
# (sampling the first token) and then runs N-1 single-token steps; the
# decode rate is B*(N-1) tokens over those steps' time. Prints the median
# over repeats, and the greedy tokens of row 0 of the last repeat.
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deepseek_v2_torch as ds  # noqa: E402


class KvCache:
    """Per layer: k [B, H, Tmax, nope+rope], v [B, H, Tmax, v_head_dim]."""

    def __init__(self, a, B, T):
        qd = a.qk_nope_head_dim + a.qk_rope_head_dim
        H = a.num_attention_heads
        self.k = [torch.zeros(B, H, T, qd) for _ in range(a.num_hidden_layers)]
        self.v = [torch.zeros(B, H, T, a.v_head_dim) for _ in range(a.num_hidden_layers)]

    def bytes_per_token(self):
        return sum(k.shape[1] * k.shape[3] + v.shape[1] * v.shape[3]
                   for k, v in zip(self.k, self.v)) * 4


def attention_step(attn, x, cos, sin, pos, k_cache, v_cache):
    """x [B, T, C]: T new tokens at positions pos..pos+T-1."""
    B, T, _ = x.shape
    H = attn.H
    if attn.q_lora_rank is None:
        q = attn.q_proj(x)
    else:
        q = attn.q_b_proj(attn.q_a_layernorm(attn.q_a_proj(x)))
    q = q.view(B, T, H, attn.qdim).transpose(1, 2)
    q_nope, q_pe = q.split([attn.nope, attn.rope], dim=-1)
    ckv, k_pe = attn.kv_a_proj_with_mqa(x).split([attn.kv_lora_rank, attn.rope], dim=-1)
    k_pe = k_pe.reshape(B, T, 1, attn.rope).transpose(1, 2)
    kv = attn.kv_b_proj(attn.kv_a_layernorm(ckv)).view(B, T, H, attn.nope + attn.vdim)
    k_nope, v = kv.transpose(1, 2).split([attn.nope, attn.vdim], dim=-1)
    c, s = cos[pos:pos + T], sin[pos:pos + T]
    q = torch.cat([q_nope, ds.apply_rope(q_pe, c, s)], dim=-1)
    k = torch.cat([k_nope, ds.apply_rope(k_pe, c, s).expand(B, H, T, attn.rope)], dim=-1)
    k_cache[:, :, pos:pos + T] = k
    v_cache[:, :, pos:pos + T] = v
    keys, values = k_cache[:, :, :pos + T], v_cache[:, :, :pos + T]
    scores = torch.matmul(q, keys.transpose(-1, -2)) * attn.scale
    if T > 1:
        mask = torch.ones(T, pos + T, dtype=torch.bool).triu(pos + 1)
        scores = scores.masked_fill(mask, float("-inf"))
    p = torch.softmax(scores, dim=-1, dtype=torch.float32)
    o = torch.matmul(p, values).transpose(1, 2).reshape(B, T, H * attn.vdim)
    return attn.o_proj(o)


def step(model, tokens, pos, cache, cos, sin):
    """tokens [B, T] -> logits of the last position [B, V]."""
    x = model.model.embed_tokens(tokens)
    for i, layer in enumerate(model.model.layers):
        h = layer.input_layernorm(x)
        x = x + attention_step(layer.self_attn, h, cos, sin, pos, cache.k[i], cache.v[i])
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.lm_head(model.model.norm(x[:, -1]))


def generate(model, prompts, new_tokens, cos, sin):
    B, P = prompts.shape
    cache = KvCache(model.args, B, P + new_tokens)
    nxt = step(model, prompts, 0, cache, cos, sin).argmax(-1)
    out = [nxt]
    t0 = time.perf_counter()
    for i in range(1, new_tokens):
        nxt = step(model, nxt.unsqueeze(1), P + i - 1, cache, cos, sin).argmax(-1)
        out.append(nxt)
    return torch.stack(out, 1), time.perf_counter() - t0, cache.bytes_per_token()


def main(argv=None):
    p = argparse.ArgumentParser(description="DeepSeek-V2 decode peer (standard KV cache)")
    p.add_argument("--weights", required=True, help="HF folder (config.json + safetensors)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = default)")
    p.add_argument("--prompt-ids", default="", help="row 0's prompt (comma-separated ids)")
    p.add_argument("--json", action="store_true")
    opts = p.parse_args(argv)
    if opts.threads > 0:
        torch.set_num_threads(opts.threads)
    a = ds.ModelArgs.from_hf_json(os.path.join(opts.weights, "config.json"))
    model = ds.DeepseekV2ForCausalLM(a)
    ds.load_hf_weights(model, opts.weights)
    model.eval()
    rng = np.random.default_rng(0)
    prompts = torch.from_numpy(
        rng.integers(0, a.vocab_size, size=(opts.batch, opts.prompt_len))).long()
    if opts.prompt_ids:
        row = [int(t) for t in opts.prompt_ids.split(",")]
        if len(row) != opts.prompt_len:
            p.error("--prompt-ids must have --prompt-len ids")
        prompts[0] = torch.tensor(row)
    cos, sin = ds.rope_tables(a, opts.prompt_len + opts.new_tokens)
    rates = []
    with torch.inference_mode():
        for _ in range(opts.repeats):
            tokens, seconds, cache_bytes = generate(model, prompts, opts.new_tokens, cos, sin)
            rates.append(opts.batch * (opts.new_tokens - 1) / seconds)
    rec = dict(batch=opts.batch, decode_tokens_per_s=statistics.median(rates),
               kv_cache_bytes_per_token=cache_bytes, threads=torch.get_num_threads(),
               tokens=tokens[0].tolist())
    if opts.json:
        print(json.dumps(rec))
    else:
        print("batch %d: %.1f decode tokens/s (median of %d), KV cache %d B/token, %d threads"
              % (opts.batch, rec["decode_tokens_per_s"], opts.repeats, cache_bytes,
                 rec["threads"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
