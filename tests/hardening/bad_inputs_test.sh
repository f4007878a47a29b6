#!/usr/bin/env bash
# Bad inputs to `hai train` and `hai eval` fail at once with a clear error:
# weights whose config.json is missing, garbage or disagrees with the run
# config (--init-from), absurd layer/expert counts (--set and a weights
# config.json), and eval arguments (--seq above max_position_embeddings,
# --rows -1, --batch 0, --rows beyond the file, NaN weights).
#
# usage: bad_inputs_test.sh   (run by bazel from the workspace root)
set -euo pipefail
case_name=bad_inputs
source "$(pwd)/tests/parity/common.sh"

# expect_fail CODE PATTERN CMD...: CMD exits with CODE and prints PATTERN.
expect_fail() {
  local code="$1" pattern="$2"; shift 2
  set +e
  out=$(timeout 60 "$@" 2>&1)
  local rc=$?
  set -e
  if [[ $rc -ne $code ]]; then echo "FAIL: expected exit $code, got $rc: $*"; echo "$out"; exit 1; fi
  if ! grep -qF -- "$pattern" <<<"$out"; then
    echo "FAIL: output of '$*' lacks: $pattern"; echo "$out"; exit 1
  fi
}

train=("$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" --quiet --steps 2)
"${train[@]}" --output-dir "$WORK/base"
W="$WORK/base/weights"

# --init-from: the weights' config.json is checked against the run config.
"${train[@]}" --output-dir "$WORK/ft_ok" --init-from "$W"
expect_fail 2 "rope_theta: the weights have 10000, the run config has 20000" \
  "${train[@]}" --output-dir "$WORK/ft1" --init-from "$W" --set model.rope_theta=20000
expect_fail 2 "routed_scaling_factor: the weights have 1, the run config has 2" \
  "${train[@]}" --output-dir "$WORK/ft2" --init-from "$W" --set model.routed_scaling_factor=2
expect_fail 2 "norm_topk_prob: the weights have false, the run config has true" \
  "${train[@]}" --output-dir "$WORK/ft3" --init-from "$W" --set model.norm_topk_prob=true
# --model DIR takes the model section from the weights instead.
"${train[@]}" --output-dir "$WORK/ft4" --init-from "$W" --model "$W" --set model.rope_theta=10000
mkdir -p "$WORK/bad"
cp "$W/model.safetensors" "$WORK/bad/"
expect_fail 2 "bad/config.json: missing" "${train[@]}" --output-dir "$WORK/ft5" --init-from "$WORK/bad"
echo '{garbage' >"$WORK/bad/config.json"
expect_fail 2 "bad/config.json" "${train[@]}" --output-dir "$WORK/ft6" --init-from "$WORK/bad"
echo '{"model_type": "deepseek_v2", "hidden_size": -32}' >"$WORK/bad/config.json"
expect_fail 2 "model.hidden_size: must be > 0" \
  "${train[@]}" --output-dir "$WORK/ft7" --init-from "$WORK/bad"
echo '{"model_type": "deepseek_v2", "num_hidden_layers": 1000000000}' >"$WORK/bad/config.json"
expect_fail 2 "num_hidden_layers: 1000000000 exceeds the supported maximum" \
  "${train[@]}" --output-dir "$WORK/ft8" --init-from "$WORK/bad"

# Absurd counts are refused by validation (timeout 60 above: no slow growth).
expect_fail 2 "model.num_hidden_layers: 1000000000 exceeds the supported maximum of 10000" \
  "${train[@]}" --output-dir "$WORK/huge1" --set model.num_hidden_layers=1000000000
expect_fail 2 "model.n_routed_experts: 100000000 exceeds the supported maximum of 65536" \
  "${train[@]}" --output-dir "$WORK/huge2" --set model.n_routed_experts=100000000
expect_fail 2 "num_hidden_layers: 1000000000 exceeds the supported maximum" \
  "$HAI" eval --weights "$WORK/bad" --data "$WORK/corpus.bin" --seq 32

# hai eval arguments.
ev=("$HAI" eval --weights "$W" --data "$WORK/corpus.bin")
"${ev[@]}" --seq 32 --rows 4 --batch 2 | grep -q "rows 4 | tokens 128 | cross-entropy"
expect_fail 2 "--seq 65 exceeds max_position_embeddings (64)" "${ev[@]}" --seq 65
expect_fail 2 "--rows must be >= 0" "${ev[@]}" --seq 32 --rows -1
expect_fail 2 "--batch must be > 0, got 0" "${ev[@]}" --seq 32 --batch 0
expect_fail 2 "holds only 1212 rows of --seq + 1 = 33 tokens" "${ev[@]}" --seq 32 --rows 5000
# NaN weights: an error, not "cross-entropy nan" with exit 0.
mkdir -p "$WORK/nan"
cp "$W/config.json" "$W/model.safetensors" "$WORK/nan/"
python3 - "$WORK/nan/model.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
lo, hi = header["model.norm.weight"]["data_offsets"]
base = 8 + n
data[base + lo:base + hi] = struct.pack("<f", float("nan")) * ((hi - lo) // 4)
open(path, "wb").write(data)
PY
expect_fail 1 "cross-entropy is nan (not finite)" "$HAI" eval --weights "$WORK/nan" \
  --data "$WORK/corpus.bin" --seq 32 --rows 2
echo PASS
