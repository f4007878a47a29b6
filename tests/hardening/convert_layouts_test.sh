#!/usr/bin/env bash
# `hai convert` exports checkpoints of every layout: a run trained under
# mpirun with CASE's layout (DP, ZeRO-1, node-shared parameters, PP, EP, all together) is converted
# to a HF folder, which must evaluate exactly like the run's own weights/
# (same parameters, optimizer state skipped), and which --init-from loads
# back under the same layout.
#
# usage: convert_layouts_test.sh CASE
set -euo pipefail
case_name="$1"
source "$(pwd)/tests/parity/common.sh"

case "$case_name" in
  dp2) np=2; layout=() ;;
  dp2_zero1) np=2; layout=(--zero 1) ;;
  dp4_node_shared) np=4; layout=(--set parallel.node_shared_params=true --set parallel.ranks_per_node=2) ;;
  pp2) np=2; layout=(--pp 2 --set train.micro_batch_size=1) ;;
  ep2) np=2; layout=(--ep 2) ;;
  pp2_dp4_ep2_zero1) np=8; layout=(--pp 2 --ep 2 --zero 1 --set train.micro_batch_size=1) ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac

run="$WORK/run"
timeout 300 "${MPIRUN[@]}" -np "$np" "$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" \
  --output-dir "$run" --quiet --steps 3 "${layout[@]}"
test -f "$run/checkpoints/step_00000003/manifest.json"
"$HAI" convert --from "$run" --to "$WORK/hf"
test -f "$WORK/hf/config.json"
# Only model tensors: no optimizer state (optim.*, zero1.*, node_shared.*).
python3 - "$WORK/hf" <<'PY'
import glob, json, struct, sys
names = []
for f in glob.glob(sys.argv[1] + "/*.safetensors"):
    with open(f, "rb") as h:
        n = struct.unpack("<Q", h.read(8))[0]
        names += [k for k in json.loads(h.read(n)) if k != "__metadata__"]
bad = [k for k in names if not k.startswith(("model.", "lm_head."))]
if not names or bad:
    sys.exit(f"converted tensors: {len(names)}, not model tensors: {bad[:5]}")
print(f"{len(names)} model tensors, no optimizer state")
PY
a=$("$HAI" eval --weights "$run/weights" --data "$WORK/corpus.bin" --seq 32 --rows 8 --threads 1)
b=$("$HAI" eval --weights "$WORK/hf" --data "$WORK/corpus.bin" --seq 32 --rows 8 --threads 1)
echo "run weights: $a"
echo "converted:   $b"
[[ "$a" == "$b" ]] || { echo "FAIL: the converted folder evaluates differently"; exit 1; }

# The exported folder starts a run again under the same layout (each stage
# or expert shard loads its part): its first loss equals one process's.
"$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" --output-dir "$WORK/again1" \
  --quiet --steps 1 --init-from "$WORK/hf"
timeout 300 "${MPIRUN[@]}" -np "$np" "$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" \
  --output-dir "$WORK/again" --quiet --steps 1 --init-from "$WORK/hf" "${layout[@]}"
python3 "$COMPARE" "$WORK/again1/metrics.jsonl" "$WORK/again/metrics.jsonl" --rel-tol 1e-5
echo PASS
