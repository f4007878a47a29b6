#!/bin/bash
# tests/checkpoint/kill9_test.sh: kill -9 a process in the middle of writing
# a checkpoint; the previous checkpoint must stay loadable and `latest` must
# name it; the next run must resume after it and clean up the leftovers.
#   $1: the ckpt_loop binary
set -u
BIN="$1"
ROOT="${TEST_TMPDIR:-/tmp}/kill9"
rm -rf "$ROOT"; mkdir -p "$ROOT"
fail() { echo "FAIL: $*" >&2; exit 1; }

wait_for_file() {  # path, timeout seconds
  local deadline=$((SECONDS + $2))
  while [ ! -e "$1" ]; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}

# 1. Deterministic: from step 3 on rank 1 is slow, so step 3 has rank 0's
#    shard on disk and nothing else when the process dies.
RUN="$ROOT/deterministic"
HS_CKPT_TEST_SLOW_FROM_STEP=3 HS_CKPT_TEST_SLOW_MS=60000 "$BIN" save "$RUN" --floats 4096 > "$ROOT/d.log" 2>&1 &
PID=$!
wait_for_file "$RUN/checkpoints/step_00000003.tmp/rank_00000.json" 60 || { kill -9 $PID; fail "step 3 never started"; }
kill -9 $PID
wait $PID 2>/dev/null
[ "$(cat "$RUN/checkpoints/latest")" = "step_00000002" ] || fail "latest is '$(cat "$RUN/checkpoints/latest")', expected step_00000002"
[ -d "$RUN/checkpoints/step_00000003.tmp" ] || fail "expected the crashed step_00000003.tmp"
[ ! -e "$RUN/checkpoints/step_00000003" ] || fail "an incomplete step_00000003 was published"
"$BIN" verify "$RUN" --expect-step 2 || fail "step 2 does not verify after the kill"
# The next run resumes at step 3 and its commit replaces the leftovers.
"$BIN" save "$RUN" --floats 4096 --steps 2 > "$ROOT/d2.log" 2>&1 || fail "resumed run failed: $(cat "$ROOT/d2.log")"
"$BIN" verify "$RUN" --expect-step 4 || fail "step 4 does not verify"
LEFT=$(ls "$RUN/checkpoints")
[ "$LEFT" = "$(printf 'latest\nstep_00000003\nstep_00000004')" ] || fail "unexpected leftovers: $LEFT"
echo "deterministic kill: OK"

# 2. Kills at arbitrary moments of a save loop with 8 MB shards, sync and
#    async: whatever the moment, `latest` names a complete, correct
#    checkpoint and the loop resumes from it.
RUN="$ROOT/random"
for i in 1 2 3 4 5 6 7 8; do
  MODE=""; [ $((i % 2)) -eq 0 ] && MODE="--async"
  "$BIN" save "$RUN" --floats 2000000 $MODE > "$ROOT/r$i.log" 2>&1 &
  PID=$!
  wait_for_file "$RUN/checkpoints/latest" 60 || { kill -9 $PID; fail "no checkpoint after 60 s"; }
  sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
  kill -9 $PID
  wait $PID 2>/dev/null
  "$BIN" verify "$RUN" || fail "kill $i ($MODE): latest checkpoint does not verify; log: $(tail -3 "$ROOT/r$i.log")"
done
echo "random kills: OK"
