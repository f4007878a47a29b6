#!/usr/bin/env bash
# Exact resume through `hai train`: 20 steps straight must give the same
# per-step losses as a run stopped after 10 (preemption) and resumed, single
# process and under mpirun (DP with ZeRO-1, node-shared parameters on 2
# nodes x 2, PP with ZB-H1, PP x DP), plus resuming a DP run on fewer ranks
# (optimizer state re-sharded; also from and to node-shared parameters),
# a clear refusal to resume ZeRO-1 shards on another layout, and a real SIGTERM /
# SIGUSR1 sent to one rank of a running mpirun job (all ranks checkpoint at
# the next step boundary and exit 75; the resumed run matches exactly), and
# kill -9 of one rank: the job ends within seconds instead of hanging.
#
# usage: resume_test.sh CASE
set -euo pipefail
case_name="$1"
source "$(pwd)/tests/parity/common.sh"

train() {  # train NP OUTDIR ARGS...
  local np="$1" out="$2"; shift 2
  local cmd=("$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" --output-dir "$out" --quiet "$@")
  if [[ "$np" == 1 ]]; then timeout 300 "${cmd[@]}"; else timeout 300 "${MPIRUN[@]}" -np "$np" "${cmd[@]}"; fi
}

expect_preempted() {  # runs a command that must exit 75
  set +e
  "$@"
  local rc=$?
  set -e
  if [[ $rc -ne 75 ]]; then echo "expected exit code 75 (preempted), got $rc"; exit 1; fi
}

straight_and_resumed() {  # NP ARGS...: 20 straight vs 10 + resume + 10
  local np="$1"; shift
  train "$np" "$WORK/straight" "$@"
  expect_preempted train "$np" "$WORK/resumed" --debug-preempt-after 10 "$@"
  test -f "$WORK/resumed/checkpoints/step_00000010/manifest.json"
  train "$np" "$WORK/resumed" "$@"
  python3 "$COMPARE" "$WORK/straight/metrics.jsonl" "$WORK/resumed/metrics.jsonl" --rel-tol 0
}

case "$case_name" in
  single)    straight_and_resumed 1 ;;
  single_async) straight_and_resumed 1 --async-checkpoint --set train.save_every=3 ;;
  dp2_zero1) straight_and_resumed 2 --zero 1 ;;
  dp4_node_shared_2nodes) straight_and_resumed 4 --set parallel.node_shared_params=true --set parallel.ranks_per_node=2 ;;
  pp2_dp2_node_shared) straight_and_resumed 4 --pp 2 --set parallel.node_shared_params=true --set train.micro_batch_size=1 ;;
  pp2_zbh1)  straight_and_resumed 2 --pp 2 --set train.micro_batch_size=1 --set parallel.pp_schedule=ZB_H1 ;;
  pp2_dp2)   straight_and_resumed 4 --pp 2 --set train.micro_batch_size=1 ;;
  ep2)       straight_and_resumed 2 --ep 2 ;;
  pp2_dp4_ep2_zero1) straight_and_resumed 8 --pp 2 --ep 2 --zero 1 --set train.micro_batch_size=1 ;;
  dp2_to_dp1)
    # ZeRO-0 state is complete on every DP rank: resume on 1 rank works.
    train 1 "$WORK/straight"
    expect_preempted train 2 "$WORK/resumed" --debug-preempt-after 10
    train 1 "$WORK/resumed"
    python3 "$COMPARE" "$WORK/straight/metrics.jsonl" "$WORK/resumed/metrics.jsonl" --rel-tol 1e-5
    ;;
  zero1_refused)
    expect_preempted train 2 "$WORK/run" --zero 1 --debug-preempt-after 5
    set +e
    out=$(train 1 "$WORK/run" 2>&1)
    rc=$?
    set -e
    echo "$out"
    [[ $rc -ne 0 ]] || { echo "resuming ZeRO-1 shards on 1 rank should fail"; exit 1; }
    grep -q "ZeRO-1 optimizer shards can only be resumed with the same layout" <<<"$out"
    ;;
  node_shared_elastic)
    # Node-shared parameters save the node's optimizer state whole (as
    # ZeRO-0 does), so their checkpoints resume in other layouts and they
    # resume others': 2 x 2 to one process, and ZeRO-0 on 2 ranks to
    # node-shared on one node of 4.
    ns=(--set parallel.node_shared_params=true)
    train 1 "$WORK/straight"
    expect_preempted train 4 "$WORK/a" "${ns[@]}" --set parallel.ranks_per_node=2 --debug-preempt-after 10
    train 1 "$WORK/a"
    python3 "$COMPARE" "$WORK/straight/metrics.jsonl" "$WORK/a/metrics.jsonl" --rel-tol 1e-5
    expect_preempted train 2 "$WORK/b" --debug-preempt-after 10
    train 4 "$WORK/b" "${ns[@]}"
    python3 "$COMPARE" "$WORK/straight/metrics.jsonl" "$WORK/b/metrics.jsonl" --rel-tol 1e-5
    ;;
  sigusr1|sigterm)
    # A real signal to one rank of a running job; the resumed run must match
    # an uninterrupted run of the same layout exactly.
    sig=$([[ "$case_name" == sigterm ]] && echo TERM || echo USR1)
    train 2 "$WORK/straight" --steps 400
    set +e
    "${MPIRUN[@]}" -np 2 "$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" \
      --output-dir "$WORK/run" --quiet --steps 400 &
    launcher=$!
    for _ in $(seq 1 300); do
      [[ -s "$WORK/run/metrics.jsonl" ]] && break
      sleep 0.1
    done
    rank=$(pgrep -P "$launcher" | head -1)
    kill -"$sig" "$rank"
    wait "$launcher"
    rc=$?
    set -e
    [[ $rc -eq 75 ]] || { echo "expected exit code 75 after SIG$sig, got $rc"; exit 1; }
    latest=$(cat "$WORK/run/checkpoints/latest")
    echo "checkpoint after the signal: $latest"
    train 2 "$WORK/run" --steps 400
    python3 "$COMPARE" "$WORK/straight/metrics.jsonl" "$WORK/run/metrics.jsonl" --rel-tol 0
    ;;
  rank_dies)
    # kill -9 of one rank mid-training: the job must end (non-zero) within
    # seconds, never hang, and the last checkpoint must still be loadable.
    set +e
    "${MPIRUN[@]}" -np 2 "$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" \
      --output-dir "$WORK/run" --quiet --steps 100000 --set train.save_every=5 &
    launcher=$!
    for _ in $(seq 1 300); do
      [[ -f "$WORK/run/checkpoints/latest" ]] && break
      sleep 0.1
    done
    rank=$(pgrep -P "$launcher" | tail -1)
    kill -9 "$rank"
    start=$(date +%s)
    for _ in $(seq 1 300); do
      kill -0 "$launcher" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$launcher" 2>/dev/null; then
      echo "the job still runs 30 s after a rank died"; kill -9 "$launcher"; exit 1
    fi
    wait "$launcher"
    rc=$?
    set -e
    echo "job ended $(( $(date +%s) - start )) s after the kill, exit code $rc"
    [[ $rc -ne 0 ]] || { echo "expected a non-zero exit code"; exit 1; }
    latest=$(cat "$WORK/run/checkpoints/latest")
    test -f "$WORK/run/checkpoints/$latest/manifest.json"
    # The surviving checkpoint resumes (a few steps, on the same layout).
    step=$((10#${latest#step_}))
    train 2 "$WORK/run" --steps $((step + 3))
    ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
