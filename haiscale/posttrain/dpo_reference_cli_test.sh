#!/usr/bin/env bash
# `hai data dpo-reference` end to end: reference log-probabilities computed
# once beside the prepared pairs give a DPO run from those weights the same
# losses as the run that computes them itself (and that run does no
# reference pass); a run from other weights is refused naming the file;
# bad flags exit 2, bad data 1 naming the flag.
set -euo pipefail
HAI="$(pwd)/tools/hai"
CONFIG="$(pwd)/tests/parity/tiny.pbtxt"
W="${TEST_TMPDIR:-$(mktemp -d)}/dpo_reference"
rm -rf "$W"
mkdir -p "$W"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$HAI" data make-task addition --digits 2 --train 40 --eval 10 --out "$W/task" >/dev/null
"$HAI" data tokenizer-train --in "$W/task/corpus.txt" --vocab 258 \
  --special "<｜begin▁of▁sentence｜>" --special "<｜end▁of▁sentence｜>" --out "$W/tok.json" >/dev/null
"$HAI" data prepare-dpo --tokenizer "$W/tok.json" --in "$W/task/dpo_train.jsonl" \
  --format plain --seq 32 --out "$W/pairs" >/dev/null
DPO=(--config "$CONFIG" --data "$W/pairs" --quiet --no-resume --set objective.type=DPO
     --set model.vocab_size=258 --set objective.dpo_beta=0.5)

# Two weights folders: one DPO step from two seeds.
for seed in 1 2; do
  "$HAI" train "${DPO[@]}" --steps 1 --set train.seed=$seed --output-dir "$W/seed$seed" >/dev/null
done
"$HAI" train "${DPO[@]}" --steps 4 --init-from "$W/seed1/weights" --output-dir "$W/in_run" >/dev/null
[[ -f "$W/in_run/dpo_reference_logps.bin" ]] || fail "the in-run reference was not stored"

out=$("$HAI" data dpo-reference --weights "$W/seed1/weights" --data "$W/pairs" --threads 1)
echo "$out"
[[ "$out" == *"pairs): reference log-probabilities of $W/seed1/weights (crc32c 0x"* ]] || fail "$out"
[[ -f "$W/pairs/dpo_reference.bin" ]] || fail "no $W/pairs/dpo_reference.bin"

"$HAI" train "${DPO[@]}" --steps 4 --init-from "$W/seed1/weights" --output-dir "$W/pre" >/dev/null
[[ ! -e "$W/pre/dpo_reference_logps.bin" ]] || fail "the run computed its own reference"
python3 - "$W/in_run/metrics.jsonl" "$W/pre/metrics.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(p) if l.strip()] for p in sys.argv[1:3])
assert len(a) == len(b) == 4, (len(a), len(b))
for x, y in zip(a, b):
    for key in ("loss", "rewards/margins", "logps/chosen"):
        assert abs(x[key] - y[key]) <= 1e-6 * max(abs(x[key]), 1e-3), (x["step"], key, x[key], y[key])
print("precomputed reference: the in-run losses and rewards at", len(a), "steps")
PY

# Other weights than the reference's: refused, naming the file and both.
if err=$("$HAI" train "${DPO[@]}" --steps 1 --init-from "$W/seed2/weights" \
           --output-dir "$W/other" 2>&1); then
  fail "a run from other weights used the precomputed reference"
fi
[[ "$err" == *"data.train_path: $W/pairs/dpo_reference.bin holds the reference log-probabilities of the weights in"*"but train.init_from $W/seed2/weights holds other weights"* ]] ||
  fail "$err"

set +e
"$HAI" data dpo-reference --weights "$W/seed1/weights" >/dev/null 2>&1
[[ $? == 2 ]] || fail "missing --data: expected exit 2"
err=$("$HAI" data dpo-reference --weights "$W/seed1/weights" --data "$W/task" 2>&1)
[[ $? == 1 && "$err" == *"--data"* ]] || fail "not a rows folder: $err"
err=$("$HAI" data dpo-reference --weights "$W/task" --data "$W/pairs" 2>&1)
[[ $? == 1 && "$err" == *"--weights"*"is not a Hugging Face weights folder"* ]] ||
  fail "not a weights folder: $err"
set -e
echo PASS
