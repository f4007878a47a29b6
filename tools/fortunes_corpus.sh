#!/usr/bin/env bash
# tools/fortunes_corpus.sh — byte-level token files from the fortune
# databases (Debian's fortunes packages, /usr/share/games/fortunes): real
# English text for sweeps and examples. Records are separated by "%" lines;
# every 20th record is held out for evaluation.
#
# Usage: tools/fortunes_corpus.sh [OUT_DIR (default data/fortunes_bytes)]
#        HAI=/path/to/hai tools/fortunes_corpus.sh
# Writes OUT_DIR/train.bin and OUT_DIR/val.bin (hai data from-text).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-data/fortunes_bytes}"
HAI="${HAI:-$(bazel info bazel-bin 2>/dev/null)/tools/hai}"
SRC=/usr/share/games/fortunes
[[ -d $SRC ]] || { echo "fortunes_corpus: $SRC missing (tools/setup.sh installs fortunes)" >&2; exit 1; }
mkdir -p "$OUT"
python3 - "$SRC" "$OUT" <<'PY'
import os, sys
src, out = sys.argv[1], sys.argv[2]
records = []
for name in sorted(os.listdir(src)):
    path = os.path.join(src, name)
    if name.endswith((".dat", ".u8")) or os.path.islink(path) or not os.path.isfile(path):
        continue
    text = open(path, encoding="utf-8", errors="replace").read()
    records += [r.strip("\n") for r in text.split("\n%\n") if r.strip()]
train = [r for i, r in enumerate(records) if i % 20 != 19]
val = [r for i, r in enumerate(records) if i % 20 == 19]
for split, recs in (("train", train), ("val", val)):
    with open(os.path.join(out, split + ".txt"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(recs) + "\n")
print(f"fortunes_corpus: {len(train)} training and {len(val)} held-out records")
PY
"$HAI" data from-text --in "$OUT/train.txt" --out "$OUT/train.bin"
"$HAI" data from-text --in "$OUT/val.txt" --out "$OUT/val.bin"
