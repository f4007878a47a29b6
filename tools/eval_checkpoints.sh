#!/bin/bash
# File: tools/eval_checkpoints.sh
#
# Held-out exact match of every checkpoint of a run (docs/post_training.md,
# GRPO demonstration): each RUN/checkpoints/step_N is converted to a weights
# folder (hai convert) and scored with hai eval-task; one JSON line per
# checkpoint, {"step": N, "correct": K, "total": T}, goes to RUN/heldout.jsonl
# (tools/plot_grpo.py --heldout reads it). Keep the checkpoints with
# `hai train --keep-last N` and `train.save_every`.
#
# Usage: tools/eval_checkpoints.sh RUN TOKENIZER EVAL_JSONL [HAI] [FORMAT]
#   HAI defaults to `hai` on PATH, FORMAT to plain.
set -euo pipefail

if [[ $# -lt 3 || $# -gt 5 ]]; then
  echo "usage: $0 RUN TOKENIZER EVAL_JSONL [HAI] [FORMAT]" >&2
  exit 2
fi
run=$1 tokenizer=$2 data=$3 hai=${4:-hai} format=${5:-plain}
shopt -s nullglob
checkpoints=("$run"/checkpoints/step_*)
if [[ ${#checkpoints[@]} -eq 0 ]]; then
  echo "$0: no checkpoints in $run/checkpoints (train.save_every, hai train --keep-last)" >&2
  exit 1
fi

weights=$(mktemp -d)
trap 'rm -rf "$weights"' EXIT
out="$run/heldout.jsonl"
tmp="$out.tmp"
: > "$tmp"
for checkpoint in "${checkpoints[@]}"; do
  step=$((10#${checkpoint##*step_}))
  "$hai" convert --from "$checkpoint" --to "$weights/w" --overwrite > /dev/null
  line=$("$hai" eval-task --weights "$weights/w" --tokenizer "$tokenizer" --format "$format" \
           --data "$data" | grep '^exact match: ')
  # "exact match: K/N = P%"
  if [[ ! $line =~ ^exact\ match:\ ([0-9]+)/([0-9]+) ]]; then
    echo "$0: unexpected eval-task output for $checkpoint: $line" >&2
    exit 1
  fi
  echo "{\"step\": $step, \"correct\": ${BASH_REMATCH[1]}, \"total\": ${BASH_REMATCH[2]}}" >> "$tmp"
  echo "step $step: $line"
done
mv "$tmp" "$out"
echo "wrote $out"
