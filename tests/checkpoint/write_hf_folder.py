#!/usr/bin/env python3
"""Writes a tiny Hugging Face DeepSeek-V2 folder (config.json + model.safetensors,
BF16) with nothing but the standard library, following the safetensors format
(8-byte little-endian header length, JSON header, raw little-endian data), and
compares two such files tensor by tensor. An independent writer/reader for
convert_cli_test.sh.

  write_hf_folder.py write DIR
  write_hf_folder.py compare FILE_OR_DIR_A FILE_OR_DIR_B
"""
import json
import os
import struct
import sys

CONFIG = {
    "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2",
    "vocab_size": 48, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 2, "kv_lora_rank": 4,
    "q_lora_rank": None, "qk_nope_head_dim": 4, "qk_rope_head_dim": 2, "v_head_dim": 4,
    "max_position_embeddings": 32, "n_routed_experts": None, "torch_dtype": "bfloat16",
}


def tensors():
    c = CONFIG
    C, V, H = c["hidden_size"], c["vocab_size"], c["num_attention_heads"]
    qh = c["qk_nope_head_dim"] + c["qk_rope_head_dim"]
    out = [("model.embed_tokens.weight", [V, C])]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}"
        out += [(f"{p}.self_attn.q_proj.weight", [H * qh, C]),
                (f"{p}.self_attn.kv_a_proj_with_mqa.weight", [c["kv_lora_rank"] + c["qk_rope_head_dim"], C]),
                (f"{p}.self_attn.kv_a_layernorm.weight", [c["kv_lora_rank"]]),
                (f"{p}.self_attn.kv_b_proj.weight", [H * (c["qk_nope_head_dim"] + c["v_head_dim"]), c["kv_lora_rank"]]),
                (f"{p}.self_attn.o_proj.weight", [C, H * c["v_head_dim"]]),
                (f"{p}.mlp.gate_proj.weight", [c["intermediate_size"], C]),
                (f"{p}.mlp.up_proj.weight", [c["intermediate_size"], C]),
                (f"{p}.mlp.down_proj.weight", [C, c["intermediate_size"]]),
                (f"{p}.input_layernorm.weight", [C]),
                (f"{p}.post_attention_layernorm.weight", [C])]
    out += [("model.norm.weight", [C]), ("lm_head.weight", [V, C])]
    return out


def bf16(x):
    return struct.unpack("<I", struct.pack("<f", x))[0] >> 16  # values are exact in bf16


def write(d):
    os.makedirs(d, exist_ok=True)
    header, data = {}, bytearray()
    for k, (name, shape) in enumerate(tensors()):
        n = 1
        for s in shape:
            n *= s
        vals = [((k * 131 + j * 7) % 255 - 127) / 64.0 for j in range(n)]
        raw = b"".join(struct.pack("<H", bf16(v)) for v in vals)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(CONFIG, f)


def read(path):
    """name -> (dtype, shape, bytes) of a file or a (sharded) folder."""
    if os.path.isdir(path):
        idx = os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(idx):
            files = sorted(set(json.load(open(idx))["weight_map"].values()))
        else:
            files = ["model.safetensors"]
        out = {}
        for f in files:
            out.update(read(os.path.join(path, f)))
        return out
    buf = open(path, "rb").read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    return {k: (v["dtype"], v["shape"], buf[base + v["data_offsets"][0]:base + v["data_offsets"][1]])
            for k, v in header.items()}


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "compare":
        a, b = read(sys.argv[2]), read(sys.argv[3])
        if a != b:
            diff = sorted(set(a) ^ set(b)) or [k for k in a if a[k] != b[k]]
            sys.exit(f"tensors differ: {diff[:5]}")
        print(f"{len(a)} tensors identical")
