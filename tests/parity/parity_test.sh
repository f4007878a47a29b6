#!/usr/bin/env bash
# Parallel parity: `mpirun -np N hai train` gives the same per-step loss as
# one process with the same global batch and seed (20 steps, relative
# tolerance 1e-5):
#   data parallel: HFReduce and MPI_Allreduce, 1 and 2 simulated nodes, ZeRO-1,
#   node-shared parameters;
#   pipeline: 2 and 4 stages with 1F1B and ZB-H1, and PP2 x DP2 with ZeRO-1;
#   the device path (train.device CUDA, *_engine cases) with the host test
#   engine, on 1 and 2 simulated nodes.
# The data-parallel CPU cases also check that every step reduced the
# embedding's gradient as its nonzero rows (metrics "embedding_rows_reduced").
# Every CPU-path run checks after every step that all data-parallel ranks hold
# bit-identical parameters (--check-replicas). The overlap case slows the
# transport down and asserts the measured overlap ratio is above zero on
# some step (on a busy machine the OS may not run the communication thread
# before backward ends on every step). Both runs evaluate on a held-out file every 10 steps
# (train.eval_every), and the eval losses must agree as well.
#
# usage: parity_test.sh CASE   (CASE: one of the names below)
set -euo pipefail
case_name="$1"
source "$(pwd)/tests/parity/common.sh"

# Held-out evaluation: another corpus file, two global batches every 10 steps.
"$HAI" data write-corpus --out "$WORK/eval.bin" --bytes 6000 --seed 7 >/dev/null
EVAL=(--set train.eval_every=10 --set train.eval_batches=2 --set "data.eval_path=$WORK/eval.bin")

reference() {
  timeout 300 "$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" \
    --output-dir "$WORK/ref" --quiet --no-resume --dump-grads "$WORK/ref_grads" "${EVAL[@]}"
}

LAST_ARGS=()
RUN_HAI="$HAI"
CHECK=(--check-replicas)
parallel_run() {
  LAST_ARGS=("$@")
  local np="$1"; shift
  timeout 300 "${MPIRUN[@]}" -np "$np" "$RUN_HAI" train --config "$CONFIG" \
    --data "$WORK/corpus.bin" --output-dir "$WORK/run" --quiet --no-resume "${CHECK[@]}" \
    "${EVAL[@]}" "$@"
}
# The trainer's device path (train.device CUDA) with the host test engine:
# a CPU replica per rank, gradients summed by HFReduce's staged GPU path
# over a host copier. Its state is not the CPU model's arena, so no
# --check-replicas / --dump-grads there.
engine_run() {
  RUN_HAI="$(pwd)/tests/parity/hai_host_engine"
  CHECK=()
  parallel_run "$@" --set train.device=CUDA
}

reference
case "$case_name" in
  dp2_hfreduce)        parallel_run 2 ;;
  dp4_hfreduce_2nodes) parallel_run 4 --set parallel.ranks_per_node=2 ;;
  dp4_hfreduce_2nodes_copy) parallel_run 4 --set parallel.ranks_per_node=2 --set parallel.hfreduce_copy_grads=true ;;
  dp2_mpi)             parallel_run 2 --set parallel.allreduce=MPI ;;
  dp2_zero1)           parallel_run 2 --zero 1 ;;
  dp4_zero1_2nodes)    parallel_run 4 --zero 1 --set parallel.ranks_per_node=2 ;;
  dp2_node_shared)     parallel_run 2 --set parallel.node_shared_params=true ;;
  dp4_node_shared_2nodes) parallel_run 4 --set parallel.node_shared_params=true --set parallel.ranks_per_node=2 ;;
  pp2_1f1b)            parallel_run 2 --pp 2 --set train.micro_batch_size=1 ;;
  pp2_zbh1)            parallel_run 2 --pp 2 --set train.micro_batch_size=1 --set parallel.pp_schedule=ZB_H1 ;;
  pp4_1f1b)            parallel_run 4 --pp 4 --set train.micro_batch_size=1 ;;
  pp4_zbh1)            parallel_run 4 --pp 4 --set train.micro_batch_size=1 --set parallel.pp_schedule=ZB_H1 ;;
  pp2_uneven)          parallel_run 2 --pp 2 --set train.micro_batch_size=1 --set "parallel.pp_stage_layers=[1,3]" ;;
  pp2_dp2_zero1)       parallel_run 4 --pp 2 --zero 1 --set train.micro_batch_size=1 --set parallel.pp_schedule=ZB_H1 ;;
  pp2_dp2_node_shared) parallel_run 4 --pp 2 --set parallel.node_shared_params=true --set train.micro_batch_size=1 --set parallel.pp_schedule=ZB_H1 ;;
  ep2)                 parallel_run 2 --ep 2 ;;
  ep4)                 parallel_run 4 --ep 4 ;;
  ep2_dp4_zero1)       parallel_run 4 --ep 2 --zero 1 ;;
  pp2_dp4_ep2)         parallel_run 8 --pp 2 --ep 2 --set train.micro_batch_size=1 --set parallel.pp_schedule=ZB_H1 ;;
  dp2_engine)          engine_run 2 ;;
  dp4_engine_2nodes)   engine_run 4 --set parallel.ranks_per_node=2 ;;
  dp2_overlap)
    parallel_run 2 --set parallel.allreduce=MPI --debug-comm-delay-ms 15 --set train.steps=6
    python3 - "$WORK/ref/metrics.jsonl" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()[:6]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
    python3 "$COMPARE" "$WORK/ref/metrics.jsonl" "$WORK/run/metrics.jsonl" --rel-tol 1e-5 \
      --min-overlap 0
    exit $?
    ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
python3 "$COMPARE" "$WORK/ref/metrics.jsonl" "$WORK/run/metrics.jsonl" --rel-tol 1e-5
# Data-parallel cases on the CPU path reduce the embedding's gradient as its
# nonzero rows (in place with HFReduce's registered gradients, else packed;
# parallel/ddp.h): on this config's batches under half of them, so every
# step must have reduced only those (not the packed path's dense fallback).
if [[ "$case_name" == dp* && "$case_name" != *engine* ]]; then
  python3 - "$WORK/run/metrics.jsonl" <<'PY'
import json, sys
shares = [json.loads(l).get("embedding_rows_reduced") for l in open(sys.argv[1]) if l.strip()]
if not shares or any(s is None or not 0 < s < 0.5 for s in shares):
    sys.exit(f"embedding_rows_reduced per step: {shares}; expected every step in (0, 0.5)")
print(f"embedding rows reduced: {min(shares):.2f}-{max(shares):.2f} of the rows per step")
PY
fi
# Gradients of every parameter after the first step (not for ZeRO-1 or
# node-shared parameters, whose ranks hold reduced gradients only for their
# parts).
if [[ "$case_name" != *zero1* && "$case_name" != *node_shared* && "$case_name" != *engine* ]]; then
  parallel_run "${LAST_ARGS[@]}" --steps 1 --dump-grads "$WORK/run_grads"
  python3 "$(pwd)/tests/parity/compare_grads.py" "$WORK/ref_grads" "$WORK/run_grads" --rel-tol 1e-5
fi
