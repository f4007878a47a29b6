#!/usr/bin/env bash
# Jobs under mpirun, the way a cluster runs them:
#   run_lock     a second job on a run directory in use (under mpirun and
#                single-process) is refused naming the directory and the
#                holder's pid/host; after the first job is killed with -9 its
#                lock is taken over (and reported).
#   sigterm      SIGTERM to tools/hai-launch (the scheduler's signal) gives a
#                checkpoint and exit code 75; the rerun resumes from it.
#   rank_killed  kill -9 of one rank: the survivors do not claim to save a
#                checkpoint, mpirun names the killed rank, exit code != 0 and
#                != 75, and the last committed checkpoint still resumes.
#
# usage: launcher_test.sh CASE
set -euo pipefail
case_name="$1"
source "$(pwd)/tests/parity/common.sh"
LAUNCH="$(pwd)/tools/hai-launch"

job() {  # job NP OUTDIR ARGS...: the training command (not started)
  local np="$1" out="$2"; shift 2
  echo "${MPIRUN[*]} -np $np $HAI train --config $CONFIG --data $WORK/corpus.bin --output-dir $out --quiet $*"
}

wait_for() {  # wait_for FILE: up to 30 s
  for _ in $(seq 1 300); do [[ -s "$1" ]] && return 0; sleep 0.1; done
  echo "timed out waiting for $1"; exit 1
}

ranks_of() { pgrep -f -- "--output-dir $1 " | grep -v "^$$\$" || true; }

case "$case_name" in
  run_lock)
    run="$WORK/run"
    $(job 2 "$run" --steps 100000) >"$WORK/first.log" 2>&1 &
    first=$!
    wait_for "$run/metrics.jsonl"
    for np in 2 1; do
      set +e
      if [[ $np == 1 ]]; then
        out=$("$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" --output-dir "$run" \
              --quiet --steps 5 2>&1)
      else
        out=$($(job 2 "$run" --steps 5) 2>&1)
      fi
      rc=$?
      set -e
      echo "$out"
      [[ $rc -ne 0 ]] || { echo "FAIL: a second job ($np ranks) shared $run"; exit 1; }
      grep -q "$run is in use by another job (pid [0-9]* on host " <<<"$out"
    done
    # Kill the first job hard: its lock dies with it.
    for p in $(pgrep -P "$first"); do kill -9 "$p" 2>/dev/null || true; done
    for p in $(ranks_of "$run"); do kill -9 "$p" 2>/dev/null || true; done
    set +e; wait "$first"; set -e
    out=$($(job 2 "$run" --steps 3 --no-resume) 2>&1)
    echo "$out"
    grep -q "was left by a job that died without releasing it (pid " <<<"$out"
    python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$run/metrics.jsonl"
    ;;
  sigterm)
    run="$WORK/run"
    "$LAUNCH" $(job 2 "$run" --steps 100000) >"$WORK/job.log" 2>&1 &
    launcher=$!
    wait_for "$run/metrics.jsonl"
    kill -TERM "$launcher"
    set +e; wait "$launcher"; rc=$?; set -e
    cat "$WORK/job.log"
    [[ $rc -eq 75 ]] || { echo "FAIL: expected exit 75 after SIGTERM to hai-launch, got $rc"; exit 1; }
    grep -q "checkpoint saved" "$WORK/job.log"
    grep -q "hai-launch: preempted; a checkpoint was saved" "$WORK/job.log"
    latest=$(cat "$run/checkpoints/latest")
    step=$((10#${latest#step_}))
    out=$("$LAUNCH" $(job 2 "$run" --steps $((step + 2))) 2>&1)
    echo "$out"
    grep -q "\"step\": $((step + 2))" "$run/metrics.jsonl"
    ;;
  rank_killed)
    run="$WORK/run"
    $(job 2 "$run" --steps 100000 --set train.save_every=5) >"$WORK/job.log" 2>&1 &
    launcher=$!
    wait_for "$run/checkpoints/latest"
    rank=$(pgrep -P "$launcher" | tail -1)
    kill -9 "$rank"
    set +e; wait "$launcher"; rc=$?; set -e
    cat "$WORK/job.log"
    [[ $rc -ne 0 && $rc -ne 75 ]] || { echo "FAIL: exit code $rc after a rank was killed"; exit 1; }
    # Requests may be printed; a claim of a save ("preempted after step N;
    # checkpoint saved") must not.
    if grep -q "saving a checkpoint\|preempted after step" "$WORK/job.log"; then
      echo "FAIL: a survivor claimed a checkpoint that was never written"; exit 1
    fi
    grep -q "signal 9" "$WORK/job.log"
    latest=$(cat "$run/checkpoints/latest")
    step=$((10#${latest#step_}))
    $(job 2 "$run" --steps $((step + 2))) >/dev/null
    grep -q "\"step\": $((step + 2))" "$run/metrics.jsonl"
    ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
echo PASS
