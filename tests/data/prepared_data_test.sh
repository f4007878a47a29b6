#!/usr/bin/env bash
# Text to training through `hai`: tokenizer-train, data prepare (the same
# bytes for 1 and 2 threads), verify (and its failure on a flipped byte),
# inspect, train on a prepared dataset with the document mask and held-out
# evaluation (the same losses on 2 DP ranks and 2 pipeline stages), a mixture of a prepared dataset and a flat file (realised
# proportions printed; a resumed run continues with the same losses), and
# clear errors for a truncated shard and a mask over a flat file.
#
# usage: prepared_data_test.sh   (run by bazel from the workspace root)
set -euo pipefail
case_name=prepared_data
source "$(pwd)/tests/parity/common.sh"


# ---- a JSONL corpus of 600 short documents (deterministic word salad)
words=(the data shard index token model train held out window batch expert router
       latent attention query key value cache step loss rank ring tree node queue)
corpus="$WORK/docs.jsonl"
: >"$corpus"
for ((d = 0; d < 600; d++)); do
  text=""
  for ((w = 0; w < d % 13 + 3; w++)); do text+="${words[$(((d * 7 + w * 5) % ${#words[@]}))]} "; done
  printf '{"id": %d, "text": "%s."}\n' "$d" "${text% }" >>"$corpus"
done

"$HAI" data tokenizer-train --in "$corpus" --vocab 300 --special "<|endoftext|>" \
  --out "$WORK/tok.json" >/dev/null
for t in 1 2; do
  "$HAI" data prepare --tokenizer "$WORK/tok.json" --format jsonl --in "$corpus" \
    --out "$WORK/prep$t" --threads "$t" --shard-size 4KB --eval-fraction 0.1 >"$WORK/prep$t.log"
done
grep -q 'eos        id 0 "<|endoftext|>"' "$WORK/prep1.log" || fail "prepare does not name the EOS"
for f in $(cd "$WORK/prep1" && find train eval -type f | sort); do
  cmp -s "$WORK/prep1/$f" "$WORK/prep2/$f" || fail "$f differs between 1 and 2 threads"
done
[[ $(ls "$WORK/prep1/train" | grep -c shard-) -gt 1 ]] || fail "expected several shards"
"$HAI" data verify "$WORK/prep1" | grep -q "OK   $WORK/prep1/eval" || fail "verify"
"$HAI" data inspect "$WORK/prep1" | grep -q "top tokens" || fail "inspect"

# ---- train on the prepared dataset: document mask, held-out evaluation
model=(--config "$CONFIG" --set model.vocab_size=320 --quiet)
"$HAI" train "${model[@]}" --steps 4 --set data.train_path="$WORK/prep1/train" \
  --set data.eval_path="$WORK/prep1/eval" --set data.document_mask=true \
  --set train.eval_every=2 --output-dir "$WORK/run_mask" >"$WORK/run_mask.log" 2>&1 ||
  { cat "$WORK/run_mask.log"; fail "training on a prepared dataset"; }
grep -q '"eval_loss"' "$WORK/run_mask/metrics.jsonl" || fail "no held-out loss"

# The same run on 2 data-parallel ranks and on 2 pipeline stages: the
# document layout reaches every rank and stage (losses and eval losses agree).
for layout in "--dp 2" "--pp 2"; do
  dir="$WORK/run_mask_${layout#--}"; dir="${dir// /}"
  timeout 300 "${MPIRUN[@]}" -np 2 "$HAI" train "${model[@]}" --steps 4 $layout \
    --set data.train_path="$WORK/prep1/train" --set data.eval_path="$WORK/prep1/eval" \
    --set data.document_mask=true --set train.eval_every=2 --output-dir "$dir" >"$dir.log" 2>&1 ||
    { cat "$dir.log"; fail "document mask with $layout"; }
  python3 "$COMPARE" "$WORK/run_mask/metrics.jsonl" "$dir/metrics.jsonl" --rel-tol 1e-5 ||
    fail "document mask with $layout differs from one process"
done

# ---- a mixture of the prepared dataset and a flat byte-level file
mix="data={mixture {path: \"$WORK/prep1/train\" weight: 3} mixture {path: \"$WORK/corpus.bin\" weight: 1}}"
# (not --quiet: the realised shares are part of the run header)
"$HAI" train "${model[@]:0:4}" --set data.train_path= --set "$mix" --steps 4 \
  --output-dir "$WORK/mix_full" >"$WORK/mix_full.log" 2>&1 || { cat "$WORK/mix_full.log"; fail "mixture"; }
grep -q "3072/4096 = 75.00%" "$WORK/mix_full.log" || { cat "$WORK/mix_full.log"; fail "mixture shares not printed"; }
grep -q "data.mixture realised over 4 steps" "$WORK/mix_full.log" || fail "realised proportions not printed"
# Resume: a copy of the run without its last checkpoint continues from
# step 2 (the sampler's only state is the step number).
"$HAI" train "${model[@]}" --set data.train_path= --set "$mix" --steps 4 --set train.save_every=2 \
  --output-dir "$WORK/mix_ckpt" >/dev/null 2>&1 || fail "mixture with checkpoints"
cp -r "$WORK/mix_ckpt" "$WORK/mix_resumed"
rm -rf "$WORK/mix_resumed/checkpoints/step_00000004"
"$HAI" train "${model[@]}" --set data.train_path= --set "$mix" --steps 4 --set train.save_every=2 \
  --output-dir "$WORK/mix_resumed" >"$WORK/mix_resumed.log" 2>&1 ||
  { cat "$WORK/mix_resumed.log"; fail "mixture, resumed"; }
grep -qi "resum" "$WORK/mix_resumed.log" || { cat "$WORK/mix_resumed.log"; fail "did not resume"; }
step4() { grep '"step": 4,' "$1/metrics.jsonl" | grep -o '"loss": [0-9.e+-]*'; }
[[ -n $(step4 "$WORK/mix_full") && $(step4 "$WORK/mix_full") == $(step4 "$WORK/mix_resumed") ]] ||
  fail "resumed mixture loss $(step4 "$WORK/mix_resumed") != $(step4 "$WORK/mix_full")"

# ---- errors name the file
expect_fail "corpus.bin is a flat token file" \
  "$HAI" train "${model[@]}" --set data.train_path= --set "$mix" --set data.document_mask=true \
  --steps 1 --output-dir "$WORK/bad_mask"
printf 'x' | dd of="$WORK/prep1/train/shard-00001.bin" bs=1 seek=40 conv=notrunc 2>/dev/null
expect_fail "shard-00001.bin: byte 32: payload CRC-32C" "$HAI" data verify "$WORK/prep1"
truncate -s -2 "$WORK/prep2/train/shard-00000.bin"
expect_fail "shard-00000.bin: byte" \
  "$HAI" train "${model[@]}" --steps 1 --set data.train_path="$WORK/prep2/train" \
  --output-dir "$WORK/bad_shard"
echo "prepared_data_test: PASSED"
