#!/usr/bin/env bash
# tools/quickstart.sh — from a fresh machine to a trained tiny DeepSeek-V2:
# installs what is missing, builds `hai`, trains a 2048-token BPE tokenizer
# on the fortunes corpus (/usr/share/games/fortunes, Debian's fortunes
# packages), prepares it as a sharded dataset with a held-out split, and
# trains configs/quickstart.pbtxt on the CPU with document-aware packing,
# reporting the held-out loss (about three minutes on 2 cores).
#
# Usage: tools/quickstart.sh [extra hai train flags, e.g. --steps 50]
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
bazel build //tools:hai
HAI="$(bazel info bazel-bin 2>/dev/null)/tools/hai"

mkdir -p data/quickstart
FORTUNES=/usr/share/games/fortunes
# The fortune databases: every file without an extension (the .dat indexes
# and .u8 links are skipped); each entry between "%" lines is a document.
mapfile -t SOURCES < <(find -L "$FORTUNES" -maxdepth 1 -type f ! -name '*.*' | sort)
if ((${#SOURCES[@]} == 0)); then
  echo "quickstart: no fortune files in $FORTUNES (tools/setup.sh installs fortunes)" >&2
  exit 1
fi
if [[ ! -s data/quickstart/tokenizer.json ]]; then
  "$HAI" data tokenizer-train --vocab 2048 --special "<|endoftext|>" \
    --out data/quickstart/tokenizer.json --in "${SOURCES[@]}"
fi
if [[ ! -f data/quickstart/fortunes/train/index.hds ]]; then
  rm -rf data/quickstart/fortunes
  "$HAI" data prepare --tokenizer data/quickstart/tokenizer.json --format fortune \
    --eval-fraction 0.02 --out data/quickstart/fortunes --in "${SOURCES[@]}"
fi
"$HAI" data inspect data/quickstart/fortunes --top 10 | head -n 24
# --no-resume: a second quickstart trains again instead of resuming the
# finished run (hai train resumes from a run directory's checkpoint).
"$HAI" train --config configs/quickstart.pbtxt --set data.document_mask=true --no-resume "$@"
# The held-out cross-entropy of the last evaluation (train.eval_every and
# the end of the run), on held-out documents the model never trained on.
metrics=runs/quickstart/metrics.jsonl
if [[ -f $metrics ]]; then
  held_out=$(grep -o '"eval_loss": [0-9.e+-]*' "$metrics" | tail -n 1 | cut -d' ' -f2)
  echo "held-out loss (data/quickstart/fortunes/eval): ${held_out:-none}"
fi
echo "Next: bazel-bin/tools/hai data inspect data/quickstart/fortunes; docs/data.md"
