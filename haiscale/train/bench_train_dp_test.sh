#!/usr/bin/env bash
# `mpirun -np 2 hai bench train`: the data-parallel line and --json carry
# rank 0's exposed time and the exposed time after the slowest rank's
# backward (the least any rank waited, so never more than rank 0's), and
# HFReduce's communication thread runs parallel.comm_priority nice levels
# above compute (as root, or a warning saying what it needs), and the
# share of the embedding's rows reduced (-1 with dense_embedding_grad), the
# communication thread's time slice (parallel.comm_slice_us), its CPU time
# and context switches per step, --comm-trace's per-bucket table, and
# --against (MPI's trainer in the same processes, compared per round).
#
# usage: bench_train_dp_test.sh   (run by bazel from the workspace root)
set -euo pipefail
case_name=bench_train_dp
source tests/parity/common.sh
export HS_DEBUG=INFO  # the priority line is INFO
BENCH=("${MPIRUN[@]}" -x HS_DEBUG -np 2 "$HAI" bench train --config configs/bench/tiny.pbtxt --steps 3
       --warmup 1 --threads 1)

for backend in HFREDUCE MPI; do
  out=$("${BENCH[@]}" --json --set parallel.allreduce=$backend 2>"$WORK/err_$backend")
  echo "$out"
  python3 - "$(grep '^{' <<<"$out" | head -1)" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r["dp"] == 2, r
e, tail = r["exposed_comm_ms"], r["exposed_after_slowest_ms"]
assert 0 <= tail <= e + 1e-3, (tail, e)
# A share of the rows (the tiny config's random batch touches most of its
# 512 rows, so the bucket may fall back to dense: 1).
assert 0 < r["embedding_rows_reduced"] <= 1, r
# The communication thread reduced every step's buckets: it used CPU time.
assert r["comm_cpu_ms"] > 0 and r["comm_switches"] >= 0 and r["main_switches"] >= 0, r
# Per rank, and the means are their averages.
b = r["by_rank"]
for k in ("comm_cpu_ms", "compute_ms", "main_cpu_ms"):
    assert len(b[k]) == 2 and all(x > 0 for x in b[k]), b
    assert abs(sum(b[k]) / 2 - r[k]) < 0.02, (k, b, r)
# The main thread's CPU is at most its wall time per step, and compute
# (zeroing, forward, backward) is part of the step.
assert r["main_cpu_ms"] <= r["step_ms"] * 1.5 and r["compute_ms"] <= r["step_ms"] * 1.5, r
# The process's CPU holds the main thread's and the communication thread's.
assert r["process_cpu_ms"] >= 0.9 * (r["main_cpu_ms"] + r["comm_cpu_ms"]), r
PY
done
if [[ $(id -u) == 0 ]]; then
  # 10 levels below the job's own nice value (0 unless started under nice).
  want=$(( $(nice) - 10 < -20 ? -20 : $(nice) - 10 ))
  grep -qF "ddp: communication thread at nice $want (parallel.comm_priority 10)" "$WORK/err_HFREDUCE" ||
    fail "no priority line: $(cat "$WORK/err_HFREDUCE")"
else
  grep -qE "communication thread at nice|parallel.comm_priority 10: .*CAP_SYS_NICE" \
    "$WORK/err_HFREDUCE" || fail "neither priority nor warning: $(cat "$WORK/err_HFREDUCE")"
fi
# The short time slice (no privilege needed), or a warning saying why not.
grep -qE "communication thread asks for a 100 us time slice|parallel.comm_slice_us 100: " \
  "$WORK/err_HFREDUCE" || fail "no slice line: $(cat "$WORK/err_HFREDUCE")"
# MPI's thread keeps equal priority and the kernel's slice, and priority 0
# says nothing.
if grep -q "communication thread at nice" "$WORK/err_MPI"; then fail "MPI backend reniced"; fi
if grep -q "time slice" "$WORK/err_MPI"; then fail "MPI backend sliced"; fi
"${BENCH[@]}" --set parallel.comm_priority=0 >"$WORK/out0" 2>"$WORK/err0"
if grep -q "comm_priority" "$WORK/err0"; then fail "priority 0: $(cat "$WORK/err0")"; fi
grep -q "data parallel: HFReduce, overlap [0-9]*%, exposed communication [0-9.]* ms/step (rank 0), [0-9.]* ms/step after the slowest rank's backward" \
  "$WORK/out0" || fail "data parallel line: $(cat "$WORK/out0")"
grep -q "communication thread: [0-9.]* ms CPU and [0-9]* context switches per step" "$WORK/out0" ||
  fail "communication usage line: $(cat "$WORK/out0")"
grep -q "embedding gradient: [0-9]*% of its rows reduced per step" "$WORK/out0" ||
  fail "embedding line: $(cat "$WORK/out0")"
# --comm-trace: one row per bucket, the embedding's row-sparse, in the table
# and in --json.
"${BENCH[@]}" --comm-trace >"$WORK/trace" 2>&1 || fail "comm trace: $(cat "$WORK/trace")"
grep -q "gradient buckets, ms from the end of backward" "$WORK/trace" || fail "$(cat "$WORK/trace")"
grep -qE "^ +[0-9]+ \| +[0-9.]+ \| row-sparse" "$WORK/trace" || fail "no row-sparse row: $(cat "$WORK/trace")"
out=$("${BENCH[@]}" --comm-trace --json)
python3 - "$(grep '^{' <<<"$out" | head -1)" <<'PY'
import json, sys
b = json.loads(sys.argv[1])["buckets"]
assert [x["bucket"] for x in b] == list(range(len(b))), b
assert sum(x["row_sparse"] for x in b) == 1, b
assert all(x["start_ms"] <= x["end_ms"] for x in b), b
PY
out=$("${BENCH[@]}" --json --set parallel.dense_embedding_grad=true)
grep -q '"embedding_rows_reduced": -1.000' <<<"$out" || fail "dense embedding: $out"
# --against: MPI_Allreduce's trainer in the same processes, rounds
# interleaved; the data-parallel comparisons per round; and the second
# trainer really runs its own config (a dense embedding gradient).
out=$("${BENCH[@]}" --rounds 2 --json --against parallel.allreduce=MPI \
      --against parallel.dense_embedding_grad=true)
python3 - "$(grep '^{' <<<"$out" | head -1)" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
a = r["against"]
assert a["set"] == "parallel.allreduce=MPI parallel.dense_embedding_grad=true", a
assert r["embedding_rows_reduced"] > 0 and a["embedding_rows_reduced"] == -1, (r, a)
assert a["rounds"] == 2 and 0 <= a["ahead_rounds"] <= 2, a
assert 0 <= a["exposed_after_slowest_ms"] <= a["exposed_comm_ms"] + 1e-3, a
assert a["comm_cpu_ms"] > 0, a
assert a["process_cpu_ms"] >= 0.9 * (a["main_cpu_ms"] + a["comm_cpu_ms"]), a
for k in ("exposed_ratio", "after_slowest_ratio", "after_slowest_lower_rounds",
          "speed_sign_p", "after_slowest_sign_p", "exposed_sign_p"):
    assert k in a, (k, a)
for k in ("speed_sign_p", "after_slowest_sign_p", "exposed_sign_p"):
    assert 0.49 < a[k] <= 1.0, (k, a)  # 2 rounds: 0.5 (2-0) or 1
assert 0 <= a["after_slowest_lower_rounds"] <= 2, a
PY
"${BENCH[@]}" --rounds 2 --against parallel.allreduce=MPI >"$WORK/against"
grep -qE "^this +\| .* ms \| .* ms \| +[0-9]+% \| +[0-9.]+ ms \| +[0-9]+$" "$WORK/against" || fail "against table: $(cat "$WORK/against")"
grep -q "exposed after the slowest backward [0-9.]*x" "$WORK/against" ||
  fail "against line: $(cat "$WORK/against")"
echo "PASS"
