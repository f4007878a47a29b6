#!/usr/bin/env bash
# `hai train --dry-run` prints the memory plan and exits without touching the
# run directory; a normal run prints it before its first step; a run whose
# plan exceeds the machine's memory is refused at once (exit 2) with the
# estimate and the machine's memory in the message, also under mpirun.
#
# usage: memory_plan_cli_test.sh   (run by bazel from the workspace root)
set -euo pipefail
case_name=memory_plan_cli
source "$(pwd)/tests/parity/common.sh"

fail() { echo "FAIL: $1"; echo "$out"; exit 1; }
has() { grep -qF -- "$1" <<<"$out" || fail "output lacks: $1"; }

train=("$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" --steps 2)

# --dry-run: the plan, exit 0, nothing written.
out=$(timeout 60 "${train[@]}" --output-dir "$WORK/dry" --dry-run 2>&1) || fail "dry-run failed"
for row in "memory plan per rank (micro-batch 2 x 32 tokens, dp 1, pp 1, ep 1, zero 0)" \
           "parameters" "gradients" "optimizer state" "activations / micro-batch" \
           "with recompute" "micro-batches in flight" "HFReduce slots + ZeRO buffers" "total" \
           "this machine: 1 rank(s)" "machine memory:"; do
  has "$row"
done
[[ ! -e "$WORK/dry/config.pbtxt" ]] || fail "--dry-run wrote the run directory"
grep -q "^step" <<<"$out" && fail "--dry-run trained"

# A multi-rank layout planned from one process: one column per stage,
# ZeRO-1's share of the optimizer state.
out=$(timeout 60 "${train[@]}" --output-dir "$WORK/dry2" --dry-run --dp 2 --pp 2 2>&1) ||
  fail "dry-run --dp 2 --pp 2 failed"
has "dp 2, pp 2"; has "stage"; has "0 [0,2)"; has "1 [2,4)"; has "this machine: 4 rank(s)"
out=$(timeout 60 "${train[@]}" --output-dir "$WORK/dry3" --dry-run --dp 4 --zero 1 2>&1) ||
  fail "dry-run --zero 1 failed"
has "optimizer state (ZeRO-1 share)"; has "(unsharded)"

# A normal run prints the plan before its first step.
out=$(timeout 120 "${train[@]}" --output-dir "$WORK/run" 2>&1) || fail "training failed"
plan_line=$(grep -n "memory plan per rank" <<<"$out" | head -1 | cut -d: -f1)
step_line=$(grep -n "^step" <<<"$out" | head -1 | cut -d: -f1)
[[ -n "$plan_line" && -n "$step_line" && "$plan_line" -lt "$step_line" ]] ||
  fail "the plan is not printed before the first step"

# Too big for this machine: refused before anything is allocated.
expect_refusal() {
  set +e
  out=$(timeout 60 "$@" 2>&1)
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "expected exit 2, got $rc: $*"
  has "on this machine need an estimated"
  has "but the machine has"
  has "Try: train.recompute"
}
expect_refusal "${train[@]}" --output-dir "$WORK/huge" --set model.vocab_size=50000000
has "memory plan: the 1 rank(s)"
[[ ! -e "$WORK/huge/config.pbtxt" ]] || fail "a refused run wrote its directory"
expect_refusal "${MPIRUN[@]}" -np 2 "${train[@]}" --output-dir "$WORK/huge2" \
  --set model.vocab_size=50000000
has "memory plan: the 2 rank(s)"
echo PASS
