#!/bin/bash
# File: hfreduce/bench/bench_allreduce_test.sh
#
# Runs `bench allreduce` on small sizes with 4 ranks as 2 nodes x 2 and
# checks the CSV: the exact header, one row per size, positive times, and
# the table form reports no wrong results.
set -euo pipefail
runner="tests/hfreduce/run_mpi_test.sh"
bench="hfreduce/bench/hfreduce_bench_main"

out=$("$runner" 4 "$bench" bench allreduce --ranks-per-node 2 \
      --min-bytes 4K --max-bytes 256K --csv --iters 3 --chunk-bytes 64K)
echo "$out"
header=$(echo "$out" | grep -v '^#' | head -1)
[[ "$header" == "bytes,hfreduce_time_us,hfreduce_busbw_gbs,mpi_time_us,mpi_busbw_gbs,ratio,hfreduce_cpu_us,hfreduce_switches,mpi_cpu_us,mpi_switches" ]] \
  || { echo "bad CSV header: $header"; exit 1; }
rows=$(echo "$out" | grep -v '^#' | tail -n +2)
[[ $(echo "$rows" | wc -l) -eq 7 ]] || { echo "want 7 rows (4K..256K)"; exit 1; }
# Times and ratios positive; each rank's CPU per call is positive and, with
# a rank or two per core, not above 4x the slowest rank's wall time (4 ranks
# on >= 1 core); switches are counts, never negative.
echo "$rows" | awk -F, '{ if (NF != 10 || $2 <= 0 || $4 <= 0 || $6 <= 0 || $7 <= 0 || $9 <= 0 ||
                            $7 > 4 * $2 + 50 || $9 > 4 * $4 + 50 || $8 < 0 || $10 < 0) {
                            print "bad row: " $0; exit 1 } }'
[[ $(echo "$rows" | head -1 | cut -d, -f1) -eq 4096 ]] || { echo "first row not 4096"; exit 1; }

table=$("$runner" 2 "$bench" bench allreduce --dtype bf16 --min-bytes 1K \
        --max-bytes 64K --iters 2)
echo "$table"
# Columns: size count type | time algbw busbw cpu_us #wrong | ... ; #wrong is
# $9 and $15, cpu_us $8 and $14.
echo "$table" | grep -v '^#' | awk '{ if ($9 != 0 || $15 != 0 || $8 <= 0 || $14 <= 0) { print "wrong results: " $0; exit 1 } }'
[[ $(echo "$table" | grep -c ' bf16 ') -eq 7 ]] || { echo "want 7 bf16 rows"; exit 1; }
# The TCP transport between the 2 simulated nodes (loopback).
tcp=$("$runner" 4 "$bench" bench allreduce --ranks-per-node 2 --transport tcp \
      --tcp-iface lo --min-bytes 4K --max-bytes 1M --iters 2 --chunk-bytes 64K)
echo "$tcp"
echo "$tcp" | grep -q 'transport tcp 127.0.0.1:' || { echo "tcp transport not used"; exit 1; }
echo "$tcp" | grep -v '^#' | awk '{ if ($9 != 0 || $15 != 0) { print "wrong results: " $0; exit 1 } }'
[[ $(echo "$tcp" | grep -c ' f32 ') -eq 9 ]] || { echo "want 9 f32 rows (tcp)"; exit 1; }
# Two nodes: the exchange by default, the trees with --pair-exchange-bytes 0.
echo "$out" | grep -q 'two-node exchange up to 1M' || { echo "exchange not reported"; exit 1; }
trees=$("$runner" 4 "$bench" bench allreduce --ranks-per-node 2 --pair-exchange-bytes 0 \
        --min-bytes 4K --max-bytes 256K --iters 2 --chunk-bytes 64K)
echo "$trees" | grep -q 'two-node trees' || { echo "trees not reported"; exit 1; }
echo "$trees" | grep -v '^#' | awk '{ if ($9 != 0 || $15 != 0) { print "wrong results: " $0; exit 1 } }'
# A bad size names its flag and fails.
if bad=$("$bench" bench allreduce --pair-exchange-bytes 12Q 2>&1); then
  echo "bad --pair-exchange-bytes accepted"; exit 1
fi
echo "$bad" | grep -q -- "--pair-exchange-bytes: bad byte size '12Q'" \
  || { echo "unclear error: $bad"; exit 1; }
# Interleaved rounds: the same CSV columns, one comment per size with the
# rounds' ratio range (min <= the row's median ratio <= max) and the sign
# test of how often HFReduce was faster.
rounds=$("$runner" 4 "$bench" bench allreduce --ranks-per-node 2 --rounds 3 \
         --min-bytes 16K --max-bytes 64K --csv --iters 2 --chunk-bytes 64K)
echo "$rounds"
[[ $(echo "$rounds" | grep -v '^#' | head -1) == "$header" ]] || { echo "rounds: other header"; exit 1; }
[[ $(echo "$rounds" | grep -c '^# [0-9]*K: 3 rounds, ratio per round [0-9.]*-[0-9.]*, HFReduce faster in [0-3] (sign test p [0-9.]*)$') -eq 3 ]] \
  || { echo "rounds: want 3 range comments"; exit 1; }
echo "$rounds" | awk '
  /^# [0-9]+K: 3 rounds/ { split($8, r, "[-,]"); lo = r[1]; hi = r[2]; next }
  /^[0-9]/ { split($0, f, ","); if (f[6] + 0.005 < lo || f[6] - 0.005 > hi) { print "ratio outside its rounds: " $0; exit 1 } }'
if bad=$("$bench" bench allreduce --rounds 0 2>&1); then echo "--rounds 0 accepted"; exit 1; fi
echo "$bad" | grep -q -- "--rounds must be >= 1" || { echo "unclear error: $bad"; exit 1; }
# --against: a second HFReduce communicator timed in the same rounds, one
# comment per size (its time, CPU and the per-round comparison), the CSV's
# columns unchanged, results checked (a wrong one fails the run).
ag=$("$runner" 4 "$bench" bench allreduce --ranks-per-node 2 --rounds 2 --min-bytes 64K \
     --max-bytes 256K --csv --iters 2 --chunk-bytes 64K --against pair-exchange-bytes=0 \
     --against tree-chunk-bytes=32K)
echo "$ag"
echo "$ag" | grep -q '^# against: pair-exchange-bytes=0 tree-chunk-bytes=32K (transport mpi)' \
  || { echo "against: no header line"; exit 1; }
[[ $(echo "$ag" | grep -c '^# [0-9]*K: against pair-exchange-bytes=0 tree-chunk-bytes=32K: [0-9.]* us, [0-9]* us CPU; HFReduce / against per round [0-9.]*x ([0-9.]*-[0-9.]*), faster in [0-2] of 2 (sign test p [0-9.]*)$') -eq 3 ]] \
  || { echo "against: want 3 comparison comments"; exit 1; }
[[ $(echo "$ag" | grep -v '^#' | head -1) == "$header" ]] || { echo "against: other header"; exit 1; }
for bad_set in "foo=1" "chunk-bytes=12Q" "inline=maybe" "transport=ib" "pair-exchange-bytes" \
               "tree-window=0" "pipeline-depth=x"; do
  if bad=$("$bench" bench allreduce --against "$bad_set" 2>&1); then
    echo "--against $bad_set accepted"; exit 1
  fi
  echo "$bad" | grep -q -- "--against $bad_set: " || { echo "unclear error: $bad"; exit 1; }
done
# With --registered each communicator reduces its own registered buffer.
reg=$("$runner" 4 "$bench" bench allreduce --ranks-per-node 2 --registered --rounds 2 \
      --min-bytes 64K --max-bytes 128K --iters 2 --chunk-bytes 64K --against tree-chunk-bytes=32K)
echo "$reg"
echo "$reg" | grep -q 'registered buffers' || { echo "registered not reported"; exit 1; }
[[ $(echo "$reg" | grep -c 'K: against tree-chunk-bytes=32K: .* faster in [0-2] of 2 (sign test p [0-9.]*)$') -eq 2 ]] \
  || { echo "registered: want 2 against comments"; exit 1; }
echo "$reg" | grep -v '^#' | awk '{ if ($9 != 0 || $15 != 0) { print "wrong results: " $0; exit 1 } }'
# ReduceScatter / AllGather against their MPI counterparts: rows, no wrong results.
for coll in reducescatter allgather; do
  t=$("$runner" 4 "$bench" bench "$coll" --ranks-per-node 2 --min-bytes 4K --max-bytes 4M \
      --iters 2 --chunk-bytes 64K --tree-chunk-bytes 64K --dtype bf16)
  echo "$t"
  echo "$t" | grep -v '^#' | awk '{ if ($9 != 0 || $15 != 0) { print "wrong results: " $0; exit 1 } }'
  [[ $(echo "$t" | grep -c ' bf16 ') -eq 11 ]] || { echo "want 11 bf16 rows ($coll)"; exit 1; }
  r=$("$runner" 4 "$bench" bench "$coll" --ranks-per-node 2 --min-bytes 64K --max-bytes 128K \
      --iters 2 --rounds 2 --chunk-bytes 64K --tree-chunk-bytes 64K --against tree-chunk-bytes=16K)
  echo "$r"
  [[ $(echo "$r" | grep -c 'K: 2 rounds, ratio per round ') -eq 2 ]] || { echo "want 2 range comments ($coll)"; exit 1; }
  [[ $(echo "$r" | grep -c 'K: against tree-chunk-bytes=16K: .* faster in [0-2] of 2 (sign test p [0-9.]*)$') -eq 2 ]] \
    || { echo "want 2 against comments ($coll)"; exit 1; }
  echo "$r" | grep -v '^#' | awk '{ if ($9 != 0 || $15 != 0) { print "wrong results: " $0; exit 1 } }'
done
echo PASS
