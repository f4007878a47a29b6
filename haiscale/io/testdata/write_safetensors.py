#!/usr/bin/env python3
"""Writes a .safetensors file with only `struct` and `json`, independently of
HaiScale's writer, plus the lines safetensors_dump should print for it.

The layout deliberately differs from HaiScale's own writer: tensors are stored
in reverse name order, the header has spaces after separators and no 8-byte
padding, and every dtype HaiScale reads appears (F32, BF16, F16, I32, I64, U8,
a scalar and an empty tensor).

Usage: write_safetensors.py OUT.safetensors EXPECTED.txt
"""

import json
import struct
import sys


def f32(x):
  """x rounded to float32, as a Python float."""
  return struct.unpack("<f", struct.pack("<f", x))[0]


def bf16_bits(x):
  """bfloat16 bits of x by truncation (exact for the values used here)."""
  return struct.unpack("<I", struct.pack("<f", x))[0] >> 16


def main():
  out_path, expected_path = sys.argv[1], sys.argv[2]
  # name -> (dtype, shape, bytes, printed values)
  tensors = {}
  w = [0.5, -1.25, 3.0e-5, 1234.5678, -0.0, 7.0]
  tensors["model.layers.0.mlp.gate_proj.weight"] = (
      "F32", [2, 3], struct.pack("<6f", *w), ["%.9g" % f32(v) for v in w])
  b = [1.0, -2.5, 0.0078125, 65280.0]  # exact in bfloat16
  tensors["model.norm.weight"] = (
      "BF16", [4], struct.pack("<4H", *[bf16_bits(v) for v in b]),
      ["%.9g" % v for v in b])
  h = [1.0, -0.333251953125, 65504.0, 5.960464477539063e-08, 0.0]
  half_bytes = struct.pack("<5e", *h)
  tensors["lm_head.weight"] = (
      "F16", [5, 1], half_bytes,
      ["%.9g" % v for v in struct.unpack("<5e", half_bytes)])
  tensors["ids.i32"] = ("I32", [3], struct.pack("<3i", -7, 0, 2147483647),
                        ["-7", "0", "2147483647"])
  tensors["ids.i64"] = ("I64", [2], struct.pack("<2q", -(2**40), 42),
                        [str(-(2**40)), "42"])
  tensors["bytes.u8"] = ("U8", [2, 2], bytes([0, 1, 128, 255]),
                         ["0", "1", "128", "255"])
  tensors["scalar"] = ("F32", [], struct.pack("<f", 2.0), ["2"])
  tensors["empty"] = ("F32", [0, 4], b"", [])

  header = {"__metadata__": {"format": "pt", "writer": "python-struct"}}
  data = b""
  for name in sorted(tensors, reverse=True):
    dtype, shape, raw, _ = tensors[name]
    header[name] = {"dtype": dtype, "shape": shape,
                    "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
  header_bytes = json.dumps(header).encode("utf-8")
  with open(out_path, "wb") as f:
    f.write(struct.pack("<Q", len(header_bytes)))
    f.write(header_bytes)
    f.write(data)

  with open(expected_path, "w") as f:
    for name in sorted(tensors):
      dtype, shape, _, values = tensors[name]
      line = "%s %s [%s]" % (name, dtype, ", ".join(str(d) for d in shape))
      for v in values:
        line += " " + v
      f.write(line + "\n")
    for key in sorted(header["__metadata__"]):
      f.write("__metadata__ %s=%s\n" % (key, header["__metadata__"][key]))


if __name__ == "__main__":
  main()
