#!/usr/bin/env bash
# haiscale/sweep/sweep_cli_test.sh — `hai sweep` end to end on tiny models:
# a point preempted mid-run is resumed from its checkpoint (not restarted)
# by the next `hai sweep run`; a point that keeps failing is retried once,
# reported, and does not stop the others; bad sweep configs name the field.
set -uo pipefail
HAI="$PWD/$1"
BASE="$PWD/$2"   # configs/quickstart.pbtxt
T="${TEST_TMPDIR:-$(mktemp -d)}/sweep"
rm -rf "$T" && mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }

"$HAI" data write-corpus --out "$T/train.bin" --bytes 65536 >/dev/null || fail "write-corpus"
"$HAI" data write-corpus --out "$T/val.bin" --bytes 8192 --seed 7 >/dev/null || fail "write-corpus"

cat > "$T/s.pbtxt" <<PB
base_config: "$BASE"
base_overrides: "data.train_path=$T/train.bin"
base_overrides: "data.eval_path=$T/val.bin"
base_overrides: "train.seq_len=32"
base_overrides: "train.log_every=1000"
budgets: [2e8]
family { depths: [1, 2] aspect_ratio: 16 }
hparams { rule: FIXED batch_tokens: 128 lr: 3e-3 }
execution { parallel_runs: 2 threads_per_run: 1 checkpoints_per_run: 4 }
PB

# plan: one row per point, arithmetic in the table.
"$HAI" sweep plan --config "$T/s.pbtxt" > "$T/plan.txt" || fail "plan: $(cat "$T/plan.txt")"
grep -q "^c2e8_d1 " "$T/plan.txt" || fail "plan lacks c2e8_d1: $(cat "$T/plan.txt")"
grep -q "^c2e8_d2 " "$T/plan.txt" || fail "plan lacks c2e8_d2"
STEPS=$(awk '$1 == "c2e8_d1" {print $10}' "$T/plan.txt")
(( STEPS >= 20 )) || fail "expected >= 20 steps for c2e8_d1, plan says '$STEPS'"
"$HAI" sweep plan --config "$T/s.pbtxt" --measure --measure-steps 1 > "$T/measure.txt" 2>&1 \
  || fail "plan --measure: $(cat "$T/measure.txt")"
grep -q "measured c2e8_d2: .* tokens/s" "$T/measure.txt" || fail "plan --measure: $(cat "$T/measure.txt")"
grep -q "times measured with hai bench train" "$T/measure.txt" || fail "plan --measure total line"

# 1. Resume: c2e8_d1 is preempted after step 10 (a checkpoint is written),
#    the sweep stops with exit 3 and says so; c2e8_d2 finishes.
"$HAI" sweep run --config "$T/s.pbtxt" --dir "$T/out" --debug-preempt-point c2e8_d1 \
  --debug-preempt-after 10 > "$T/run1.txt" 2>&1
rc=$?
(( rc == 3 )) || fail "first run: exit $rc, want 3: $(cat "$T/run1.txt")"
"$HAI" sweep status --dir "$T/out" > "$T/status1.txt" || fail "status"
grep -Eq "^c2e8_d1 +interrupted +10/$STEPS" "$T/status1.txt" || fail "status after preemption: $(cat "$T/status1.txt")"
grep -Eq "^c2e8_d2 +done" "$T/status1.txt" || fail "c2e8_d2 not done: $(cat "$T/status1.txt")"
"$HAI" sweep run --config "$T/s.pbtxt" --dir "$T/out" > "$T/run2.txt" 2>&1 || fail "second run: $(cat "$T/run2.txt")"
grep -q "resuming from .*step 10" "$T/out/c2e8_d1/train.log" || fail "c2e8_d1 did not resume from step 10: $(cat "$T/out/c2e8_d1/train.log")"
# Step 1 was trained once: the resumed attempt started at step 11.
n1=$(grep -c '^{"step": 1,' "$T/out/c2e8_d1/metrics.jsonl")
(( n1 == 1 )) || fail "c2e8_d1 restarted from step 1 ($n1 records of step 1)"
grep -q '^{"step": 11,' "$T/out/c2e8_d1/metrics.jsonl" || fail "no step 11 after resume"
# The finished point was skipped, not retrained.
n=$(grep -c "hai train:" "$T/out/c2e8_d2/train.log")
(( n == 1 )) || fail "c2e8_d2 ran $n times"
grep -q "^c2e8_d1,.*,done,1," "$T/out/results.csv" || fail "results.csv: $(cat "$T/out/results.csv")"
grep -q "^c2e8_d2,.*,done,1," "$T/out/results.csv" || fail "results.csv: $(cat "$T/out/results.csv")"
"$HAI" sweep status --dir "$T/out" | grep -q "2 points: 2 done" || fail "final status"

# 2. A failing point: c2e8_d2's metrics.jsonl is a directory, so hai train
#    cannot log; it is retried once, reported failed, and c2e8_d1 finishes.
mkdir -p "$T/bad/c2e8_d2/metrics.jsonl"
"$HAI" sweep run --config "$T/s.pbtxt" --dir "$T/bad" > "$T/run3.txt" 2>&1
rc=$?
(( rc == 1 )) || fail "failing sweep: exit $rc, want 1: $(cat "$T/run3.txt")"
grep -q "point c2e8_d2 failed, retrying" "$T/run3.txt" || fail "no retry: $(cat "$T/run3.txt")"
grep -q "point c2e8_d2 failed: hai train exited with code" "$T/run3.txt" || fail "failure not reported: $(cat "$T/run3.txt")"
grep -q "^c2e8_d2,.*,failed,2," "$T/bad/results.csv" || fail "results.csv: $(cat "$T/bad/results.csv")"
grep -q "^c2e8_d1,.*,done,1," "$T/bad/results.csv" || fail "the other point did not finish"
"$HAI" sweep status --dir "$T/bad" | grep -Eq "^c2e8_d2 +failed .*metrics.jsonl|^c2e8_d2 +failed" || fail "status of the failed point"

# Bits per byte with a tokenizer: plan reports the bytes per token it
# measured on the held-out tokens (text bytes / tokens).
for i in $(seq 1 40); do echo "the quick brown fox $i jumps over the lazy dog number $i"; done > "$T/text.txt"
"$HAI" data tokenizer-train --in "$T/text.txt" --vocab 300 --out "$T/tok.json" >/dev/null 2>&1 || fail "tokenizer-train"
"$HAI" data encode --tokenizer "$T/tok.json" --in "$T/text.txt" --out "$T/text_ids.bin" >/dev/null 2>&1 || fail "encode"
{ grep -v "data.eval_path" "$T/s.pbtxt"; echo "base_overrides: \"data.eval_path=$T/text_ids.bin\""
  echo "metric { kind: BITS_PER_BYTE tokenizer: \"$T/tok.json\" }"; } > "$T/bpb.pbtxt"
"$HAI" sweep plan --config "$T/bpb.pbtxt" > "$T/bpb.txt" 2>&1 || fail "plan with metric.tokenizer: $(cat "$T/bpb.txt")"
want=$(python3 -c "import os,sys; print('%.4f' % (os.path.getsize(sys.argv[1]) / (os.path.getsize(sys.argv[2]) / 4)))" "$T/text.txt" "$T/text_ids.bin")
grep -q "metric: bits per byte, $want bytes per token (measured on the held-out data" "$T/bpb.txt" \
  || fail "measured bytes per token (want $want): $(cat "$T/bpb.txt")"

# 3. Bad configs name the field (and the sweep directory's config check).
bad() {  # bad <text appended to a valid sweep> <expected fragment>
  { grep -v "^execution" "$T/s.pbtxt"; echo "$1"; } > "$T/b.pbtxt"
  out=$("$HAI" sweep plan --config "$T/b.pbtxt" 2>&1)
  [[ $? == 2 ]] || fail "bad config '$1' not rejected with exit 2: $out"
  [[ $out == *"$2"* ]] || fail "bad config '$1': message lacks '$2': $out"
}
bad "execution { parallel_runs: 0 }" "execution.parallel_runs: must be >= 1"
bad "budgets: [-1]" "budgets[1]: must be > 0"
bad "metric { kind: TRAIN_LOSS eval_batches: -1 }" "metric.eval_batches: must be >= 0"
bad "metric { kind: BITS_PER_BYTE bytes_per_token: 0 }" "metric.bytes_per_token"
bad "execution { bogus: 1 }" "execution"
sed 's/lr: 3e-3/lr: 1e-3/' "$T/s.pbtxt" > "$T/changed.pbtxt"
out=$("$HAI" sweep run --config "$T/changed.pbtxt" --dir "$T/out" 2>&1)
[[ $? == 2 && $out == *"differs from what the sweep config now makes"* ]] || fail "changed config accepted: $out"
echo PASS
