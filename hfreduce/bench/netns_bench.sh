#!/bin/bash
# File: hfreduce/bench/netns_bench.sh
#
# Two simulated nodes over real TCP: two network namespaces joined by a veth
# pair, one (or more) ranks in each, `bench allreduce` with HFReduce's TCP
# transport against MPI_Allreduce (OpenMPI's tcp BTL) over the same link.
#
#   ns hfr<PID>-0 : hfr0 10.77.0.1/24  <== veth ==>  hfr0 10.77.0.2/24 : ns hfr<PID>-1
#
# How the job spans the namespaces: mpirun itself runs inside namespace 0
# and starts the ranks of namespace 1 through `ip netns exec`. The ranks
# reach mpirun's PMIx server over the veth (PMIx 4 has only a TCP
# rendezvous, which by default listens on loopback; namespace 1 cannot reach
# namespace 0's loopback), so PMIx is told to listen on 10.77.0.0/24. MPI's
# data uses only `btl self,tcp` on 10.77.0.0/24: vader (shared memory) would
# cross the namespaces through /dev/shm and bypass the link. HFReduce's
# ranks of one namespace still share memory (that is the intra-node phase);
# its inter-node phase runs over TCP on hfr0. Nothing leaves the two
# namespaces except the shared-memory segments, which are node-local by
# design.
#
# Needs root (ip netns, ip link, tc). Where namespaces cannot be created it
# prints "SKIPPED: <why>" and exits 0.
#
# Usage (from the repository root, after building the bench binary):
#   hfreduce/bench/netns_bench.sh [--bin PATH] [--ranks-per-ns N] [--rate 1gbit]
#                                 [--delay 100us] [--mpirun-args "..."] [-- bench args...]
#   --bin        a `hai` binary or bazel-bin/hfreduce/bench/hfreduce_bench_main
#                (default: that path, else `hai` on PATH)
#   --rate       shape each direction of the link with tbf (e.g. 1gbit, 10gbit)
#   --delay      add netem delay (needs the sch_netem kernel module)
#   bench args   passed on, e.g. --min-bytes 64K --max-bytes 64M --csv
set -uo pipefail

bin=""
rpn=1
rate=""
delay=""
mpirun_args=""
bench_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --ranks-per-ns) rpn="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --delay) delay="$2"; shift 2 ;;
    --mpirun-args) mpirun_args="$2"; shift 2 ;;
    --) shift; bench_args=("$@"); break ;;
    *) echo "netns_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

skip() { echo "SKIPPED: $*"; exit 0; }

if [[ -z "$bin" ]]; then
  if [[ -x bazel-bin/hfreduce/bench/hfreduce_bench_main ]]; then
    bin=$(readlink -f bazel-bin/hfreduce/bench/hfreduce_bench_main)
  elif command -v hai >/dev/null; then
    bin=$(command -v hai)
  else
    echo "netns_bench.sh: no bench binary; build //hfreduce/bench:hfreduce_bench_main or pass --bin" >&2
    exit 2
  fi
fi
bin=$(readlink -f "$bin")
[[ -x "$bin" ]] || { echo "netns_bench.sh: $bin is not executable" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || skip "needs root (ip netns add)"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v mpirun >/dev/null || skip "mpirun is not installed"

ns0="hfr$$-0"
ns1="hfr$$-1"
va="hfv$$a"
vb="hfv$$b"
cleanup() {
  ip netns del "$ns0" 2>/dev/null
  ip netns del "$ns1" 2>/dev/null  # deleting a namespace deletes its veth end
  ip link del "$va" 2>/dev/null
}
trap cleanup EXIT

err=$(ip netns add "$ns0" 2>&1) || skip "ip netns add is not permitted here: $err"
ip netns add "$ns1" || skip "ip netns add failed for the second namespace"
err=$(ip link add "$va" type veth peer name "$vb" 2>&1) || skip "no veth support: $err"
set -e
ip link set "$va" netns "$ns0"
ip link set "$vb" netns "$ns1"
# The same device name in both namespaces, so every rank gets --tcp-iface hfr0.
ip -n "$ns0" link set "$va" name hfr0
ip -n "$ns1" link set "$vb" name hfr0
ip -n "$ns0" addr add 10.77.0.1/24 dev hfr0
ip -n "$ns1" addr add 10.77.0.2/24 dev hfr0
for ns in "$ns0" "$ns1"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set hfr0 up
done
set +e

link_desc="veth, unshaped"
if [[ -n "$delay" ]]; then
  for ns in "$ns0" "$ns1"; do
    out=$(ip netns exec "$ns" tc qdisc add dev hfr0 root netem delay "$delay" \
          ${rate:+rate "$rate"} 2>&1) \
      || { echo "netns_bench.sh: netem unavailable ($out); run without --delay" >&2; exit 2; }
  done
  link_desc="veth, netem delay $delay${rate:+ rate $rate}"
elif [[ -n "$rate" ]]; then
  for ns in "$ns0" "$ns1"; do
    # burst: at least rate/250 (one 4 ms timer tick), for rates above 1 Gbit.
    ip netns exec "$ns" tc qdisc add dev hfr0 root tbf rate "$rate" burst 4mb latency 20ms \
      || { echo "netns_bench.sh: tc tbf failed" >&2; exit 2; }
  done
  link_desc="veth, tbf rate $rate per direction"
fi

tx_bytes() { ip netns exec "$ns0" cat /sys/class/net/hfr0/statistics/tx_bytes; }

# A single-stream TCP baseline of the link (python3, when there is one).
if command -v python3 >/dev/null; then
  ip netns exec "$ns1" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 5999)); s.listen(1); c, _ = s.accept()
while c.recv(1 << 20): pass' &
  sink=$!
  sleep 0.5
  link=$(ip netns exec "$ns0" python3 -c '
import socket, time
s = socket.create_connection(("10.77.0.2", 5999))
b = b"x" * (1 << 20); t = time.time(); n = 0
while time.time() - t < 2: s.sendall(b); n += len(b)
print("%.3f" % (n / (time.time() - t) / 1e9))')
  wait "$sink"
  echo "# link: $link_desc; one TCP stream: ${link:-?} GB/s"
else
  echo "# link: $link_desc"
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_hwloc_base_binding_policy=none
# PMIx rendezvous over the veth instead of namespace 0's loopback.
export PMIX_MCA_ptl_tcp_remote_connections=1 PMIX_MCA_ptl_tcp_if_include=10.77.0.0/24
mca=(--mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24
     --mca oob_tcp_if_include 10.77.0.0/24)
args=(bench allreduce --ranks-per-node "$rpn" --transport tcp --tcp-iface hfr0
      "${bench_args[@]}")

before=$(tx_bytes)
# shellcheck disable=SC2086
ip netns exec "$ns0" timeout --signal=KILL 1800 mpirun --allow-run-as-root --oversubscribe \
  --bind-to none "${mca[@]}" $mpirun_args \
  -np "$rpn" "$bin" "${args[@]}" : \
  -np "$rpn" ip netns exec "$ns1" "$bin" "${args[@]}"
rc=$?
after=$(tx_bytes)
echo "# bytes sent from namespace 0 over the veth: $((after - before))"
exit $rc
