#!/usr/bin/env bash
# One recovery rule for damaged checkpoints, through `hai train` and
# `hai convert`: a CRC mismatch in the checkpoint `latest` names falls back
# to the newest intact one with a warning naming what was skipped; when
# nothing is intact the run refuses (never a silent restart from step 0);
# --resume-from chooses a checkpoint explicitly.
set -euo pipefail
case_name=recovery
source "$(pwd)/tests/parity/common.sh"

train=("$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" --output-dir "$WORK/run" --quiet)
"${train[@]}" --steps 4 --set train.save_every=2
ck="$WORK/run/checkpoints"
[[ "$(cat "$ck/latest")" == step_00000004 ]]
# Flip one byte in the data region of the newest checkpoint's shard.
python3 - "$ck/step_00000004/rank_00000.safetensors" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[-5] ^= 0x10
open(path, "wb").write(data)
PY
out=$("${train[@]}" --steps 6 2>&1)
echo "$out"
grep -q "SKIPPED, resuming from $ck/step_00000002" <<<"$out"
grep -q "skipped step_00000004: $ck/step_00000004/rank_00000.safetensors: CRC32 mismatch" <<<"$out"
grep -q '"step": 6' "$WORK/run/metrics.jsonl"
# hai convert on the run directory follows the same rule.
mkdir -p "$WORK/c"
cp -r "$WORK/run/checkpoints" "$WORK/c/"
printf 'x' >>"$WORK/c/checkpoints/$(cat "$WORK/c/checkpoints/latest")/rank_00000.safetensors"
"$HAI" convert --from "$WORK/c" --to "$WORK/hf" 2>"$WORK/convert.err"
grep -q "SKIPPED" "$WORK/convert.err"
# --resume-from picks a checkpoint explicitly (an older one here); a damaged
# one is refused naming the problem.
"${train[@]}" --steps 4 --resume-from "$ck/step_00000002"
[[ "$(tail -1 "$WORK/run/metrics.jsonl")" == *'"step": 4'* ]]
if grep -q '"step": 5' "$WORK/run/metrics.jsonl"; then echo "FAIL: metrics past step 4"; exit 1; fi
printf 'x' >>"$ck/step_00000002/rank_00000.safetensors"
set +e
out=$("${train[@]}" --steps 4 --resume-from "$ck/step_00000002" 2>&1)
rc=$?
set -e
echo "$out"
[[ $rc -ne 0 ]] && grep -q -- "--resume-from: .*step_00000002/rank_00000.safetensors: .*truncated or overwritten" <<<"$out"
# Nothing intact: refused with every reason, nothing trained.
for d in "$ck"/step_*; do printf 'x' >>"$d/rank_00000.safetensors"; done
set +e
out=$("${train[@]}" --steps 8 2>&1)
rc=$?
set -e
echo "$out"
[[ $rc -ne 0 ]] && grep -q "none is intact" <<<"$out"
echo PASS
