#!/bin/bash
# File: hfreduce/sim/sim_cli_test.sh
#
# `sim allreduce` end to end: the table and CSV over node counts, the
# sensitivity listing, --compare against a benchmark CSV (with the call
# overhead fitted), and clear errors for bad input.
set -euo pipefail
sim="hfreduce/sim/hfreduce_sim_main"

table=$("$sim" sim allreduce --nodes 2,16,180)
echo "$table"
[[ $(echo "$table" | grep -v '^#' | wc -l) -eq 3 ]] || { echo "want 3 rows"; exit 1; }
echo "$table" | grep -q 'preset fire-flyer-a100' || { echo "no preset line"; exit 1; }

csv=$("$sim" sim allreduce --nodes 4,8 --bytes 64M --csv --nic-gbs 46)
echo "$csv"
rows=$(echo "$csv" | grep -v '^#' | tail -n +2)
[[ $(echo "$rows" | wc -l) -eq 2 ]] || { echo "want 2 CSV rows"; exit 1; }
echo "$rows" | awk -F, '{ if (NF != 11 || $4 <= 0 || $5 <= 0 || $7 <= 0 || $9 <= 0) { print "bad row: " $0; exit 1 } }'
echo "$csv" | grep -q 'NIC 46.0 GB/s' || { echo "--nic-gbs not applied"; exit 1; }
# Doubling the NIC at 8 nodes must not slow anything down.
slow=$("$sim" sim allreduce --nodes 8 --bytes 64M --csv | tail -1 | cut -d, -f4)
fast=$(echo "$rows" | tail -1 | cut -d, -f4)
awk -v s="$slow" -v f="$fast" 'BEGIN { exit !(f <= s) }' || { echo "faster NIC, slower model"; exit 1; }

sens=$("$sim" sim allreduce --nodes 16 --sensitivity)
echo "$sens"
echo "$sens" | grep -q 'host_mem_bw' || { echo "no sensitivity rows"; exit 1; }
# Ring and tree columns; the ring at 16 nodes moves with its slowest link (the
# socket crossing) and the per-step latency, not with host memory.
echo "$sens" | awk '$2 == "xsocket_bw" { if ($5 > -0.5) { print "ring ignores the socket link: " $0; exit 1 } f = 1 } END { exit !f }'
echo "$sens" | awk '$2 == "host_mem_bw" { if ($5 != 0) { print "ring depends on host memory: " $0; exit 1 } }'
# Making the socket link as fast as P2P makes the ring faster, not slower.
r9=$("$sim" sim allreduce --nodes 2 --csv | tail -1 | cut -d, -f7)
r10=$("$sim" sim allreduce --nodes 2 --csv --xsocket-gbs 10 | tail -1 | cut -d, -f7)
awk -v a="$r9" -v b="$r10" 'BEGIN { exit !(b < a) }' || { echo "faster socket link, slower ring"; exit 1; }

bench="$TEST_TMPDIR/bench.csv"
cat > "$bench" <<'CSV'
# hai bench allreduce: 4 ranks = 2 nodes x 2
bytes,hfreduce_time_us,hfreduce_busbw_gbs,mpi_time_us,mpi_busbw_gbs,ratio
65536,120.0,0.8,100.0,1.0,0.8
1048576,900.0,1.7,1000.0,1.5,1.1
16777216,12000.0,2.1,13000.0,1.9,1.1
CSV
cmp=$("$sim" sim allreduce --preset local --host-mem-gbs 1000 --gpus-per-node 2 --nodes 2 \
      --compare "$bench")
echo "$cmp"
[[ $(echo "$cmp" | grep -v '^#' | wc -l) -eq 3 ]] || { echo "want 3 compared sizes"; exit 1; }
echo "$cmp" | grep -q 'fitted (smallest excess' || { echo "overhead not fitted"; exit 1; }
# The size with the smallest excess is matched exactly, none is over-predicted.
echo "$cmp" | grep -v '^#' | grep -q ' 1.00 ' || { echo "no exact fit"; exit 1; }
echo "$cmp" | grep -v '^#' | awk '{ if ($5 + 0 > 1.0001) { print "over-predicted: " $0; exit 1 } }'

# Bad input: named, exit code 2.
for args in "--nodes 0" "--nodes 2,x" "--bytes -5" "--preset dgx" "--nic-gbs 0" \
            "--nic-gbs fast" "--pcie-gbs -1" "--cache-mib x" \
            "--preset local" "--compare /nonexistent.csv --nodes 2" "--xsocket-gbs 0" \
            "--nccl-tree-efficiency 1.5" "--nccl-tree-efficiency 0"; do
  set +e
  err=$("$sim" sim allreduce $args 2>&1 >/dev/null)
  rc=$?
  set -e
  [[ $rc -eq 2 && -n "$err" ]] || { echo "'$args': rc $rc, error '$err'"; exit 1; }
  echo "'$args' -> $err"
done
echo PASS
