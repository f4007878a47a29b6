#!/usr/bin/env bash
# Records the per-step losses of the parity and resume suites, so that a
# refactoring of the trainer can be checked to leave them bit-identical.
#
# Runs tests/parity/parity_test.sh and tests/checkpoint/resume_test.sh, case
# by case, against the given binaries (copies of bazel-bin/tools/hai and
# bazel-bin/tests/parity/hai_host_engine, so that the shared Bazel server is
# not held while the cases run). Every `hai train` of a case is wrapped: after
# it ends, rank 0's metrics.jsonl is copied aside, and the report lists, per
# run, each step's loss, aux loss and eval loss (as logged, 9 significant
# digits) and the sha256 of every weight file it wrote (bit-identical final
# parameters).
#
# usage: tools/compare_parity_losses.sh HAI HAI_HOST_ENGINE OUT_DIR [CASE...]
#   CASE: parity:<name> or resume:<name> (default: all deterministic cases)
#   Writes OUT_DIR/losses.txt; compare two runs with `diff`.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  sed -n '2,17p' "$0"
  exit 2
fi
hai=$(realpath "$1") host_engine=$(realpath "$2") out=$(realpath -m "$3")
shift 3
repo=$(cd "$(dirname "$0")/.." && pwd)
cases=("$@")
if [[ ${#cases[@]} -eq 0 ]]; then
  for c in dp2_hfreduce dp4_hfreduce_2nodes dp4_hfreduce_2nodes_copy dp2_mpi dp2_zero1 \
           dp4_zero1_2nodes dp2_overlap pp2_1f1b pp2_zbh1 pp4_1f1b pp4_zbh1 pp2_uneven \
           pp2_dp2_zero1 ep2 ep4 ep2_dp4_zero1 pp2_dp4_ep2 dp2_engine dp4_engine_2nodes; do
    cases+=("parity:$c")
  done
  for c in single single_async dp2_zero1 pp2_zbh1 pp2_dp2 ep2 pp2_dp4_ep2_zero1 dp2_to_dp1; do
    cases+=("resume:$c")
  done
fi

rm -rf "$out"
mkdir -p "$out/root/tools" "$out/root/tests/parity" "$out/root/tests/checkpoint" "$out/runs"
cp "$repo"/tests/parity/{common.sh,compare_grads.py,compare_metrics.py,tiny.pbtxt,parity_test.sh} \
  "$out/root/tests/parity/"
cp "$repo/tests/checkpoint/resume_test.sh" "$out/root/tests/checkpoint/"

# wrap REAL DEST: DEST runs REAL, then keeps rank 0's metrics and weight hashes.
wrap() {
  cat >"$2" <<EOF
#!/usr/bin/env bash
"$1" "\$@"
rc=\$?
# mpirun stops the other ranks (and this wrapper) once one exits non-zero,
# as a preempted run does: finish the copy first.
trap '' TERM INT HUP
[[ "\${OMPI_COMM_WORLD_RANK:-0}" == 0 ]] || exit \$rc
args=("\$@")
for ((i = 0; i + 1 < \${#args[@]}; ++i)); do
  if [[ "\${args[i]}" == --output-dir && -f "\${args[i+1]}/metrics.jsonl" ]]; then
    n=\$(ls "$out/runs" | wc -l)
    tag=\$(printf '%03d_%s_%s' "\$n" "\$HAI_CASE" "\$(basename "\${args[i+1]}")")
    cp "\${args[i+1]}/metrics.jsonl" "$out/runs/\$tag.jsonl"
    (cd "\${args[i+1]}" && find weights -name '*.safetensors' 2>/dev/null | sort | xargs -r sha256sum) \
      >"$out/runs/\$tag.sha256" || true
  fi
done
exit \$rc
EOF
  chmod +x "$2"
}
wrap "$hai" "$out/root/tools/hai"
wrap "$host_engine" "$out/root/tests/parity/hai_host_engine"

failed=0
for c in "${cases[@]}"; do
  suite=${c%%:*} name=${c#*:}
  script=tests/parity/parity_test.sh
  [[ "$suite" == resume ]] && script=tests/checkpoint/resume_test.sh
  mkdir -p "$out/tmp/$suite"
  if (cd "$out/root" && HAI_CASE="${suite}_$name" TEST_TMPDIR="$out/tmp/$suite" \
        bash "$script" "$name" >"$out/tmp/$suite/$name.log" 2>&1); then
    echo "ok   $c"
  else
    echo "FAIL $c (log: $out/tmp/$suite/$name.log)"
    failed=1
  fi
done

python3 - "$out/runs" >"$out/losses.txt" <<'PY'
import json, os, sys
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    run = f.split("_", 1)[1].rsplit(".", 1)[0]
    path = os.path.join(d, f)
    if f.endswith(".sha256"):
        for line in open(path):
            h, name = line.split()
            print(f"{run} weights {name} {h}")
        continue
    for line in open(path):
        if not line.strip():
            continue
        m = json.loads(line)
        ev = m.get("eval_loss", "-")
        print(f"{run} step {m['step']} loss {m['loss']} aux {m['aux_loss']} eval {ev}")
PY
echo "$(grep -c ' step ' "$out/losses.txt") step losses, $(grep -c ' weights ' "$out/losses.txt") weight files -> $out/losses.txt"
exit $failed
