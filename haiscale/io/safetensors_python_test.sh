#!/bin/bash
# File: haiscale/io/safetensors_python_test.sh
#
# A .safetensors file written by an independent writer (Python, struct + json
# only: haiscale/io/testdata/write_safetensors.py) loads in HaiScale's reader
# with exactly the names, dtypes, shapes, values and metadata Python wrote.
set -euo pipefail

PYTHON=python3
if ! command -v "$PYTHON" >/dev/null 2>&1; then PYTHON=/usr/bin/python3; fi

tmp="${TEST_TMPDIR:-$(mktemp -d)}"
"$PYTHON" haiscale/io/testdata/write_safetensors.py \
  "$tmp/py.safetensors" "$tmp/expected.txt"
haiscale/io/safetensors_dump "$tmp/py.safetensors" > "$tmp/actual.txt"
if ! diff -u "$tmp/expected.txt" "$tmp/actual.txt"; then
  echo "FAIL: HaiScale's reader disagrees with the Python-written file" >&2
  exit 1
fi
# The reader must also reject the same file cut short.
head -c -3 "$tmp/py.safetensors" > "$tmp/cut.safetensors"
if haiscale/io/safetensors_dump "$tmp/cut.safetensors" > /dev/null 2> "$tmp/err.txt"; then
  echo "FAIL: truncated file was accepted" >&2
  exit 1
fi
grep -q "cut.safetensors" "$tmp/err.txt" || { echo "FAIL: error does not name the file:"; cat "$tmp/err.txt"; exit 1; }
echo "PASS ($(wc -l < "$tmp/expected.txt") lines match)"
