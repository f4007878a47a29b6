#!/usr/bin/env bash
# tools/quickstart.sh — from a fresh machine to a trained tiny DeepSeek-V2:
# installs what is missing, builds `hai`, writes the built-in corpus and
# trains configs/quickstart.pbtxt on the CPU (a minute or two on 2 cores).
#
# Usage: tools/quickstart.sh [extra hai train flags, e.g. --steps 50]
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
bazel build //tools:hai
HAI="$(bazel info bazel-bin 2>/dev/null)/tools/hai"

mkdir -p data/quickstart
if [[ ! -s data/quickstart/train.bin ]]; then
  "$HAI" data write-corpus --out data/quickstart/train.bin
fi
if [[ ! -s data/quickstart/val.bin ]]; then
  # Held-out text (another paragraph order) for train.eval_every.
  "$HAI" data write-corpus --out data/quickstart/val.bin --bytes 32768 --seed 99
fi
"$HAI" data inspect data/quickstart/train.bin --seq 128 || true
# --no-resume: a second quickstart trains again instead of resuming the
# finished run (hai train resumes from a run directory's checkpoint).
"$HAI" train --config configs/quickstart.pbtxt --no-resume "$@"
echo
echo "Next: bazel-bin/tools/hai eval --weights runs/quickstart/weights --data data/quickstart/train.bin --seq 128 --rows 64"
