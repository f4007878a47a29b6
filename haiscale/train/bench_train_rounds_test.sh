#!/usr/bin/env bash
# `hai bench train --compare-torch --rounds R` against a stand-in peer
# (testdata/fake_served_peer.sh, steps of a fixed 400 ms): the peer is
# started in serve mode with the run's threads and all rounds' steps, the
# ratio is the median of the per-round ratios with its range, and a peer that
# answers nothing is an error naming it.
#
# usage: bench_train_rounds_test.sh   (run by bazel from the workspace root)
set -euo pipefail
HAI="$(pwd)/tools/hai"
PEER="$(pwd)/haiscale/train/testdata/fake_served_peer.sh"
T="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*"; exit 1; }
export FAKE_PEER_ARGS="$T/peer_args" FAKE_PEER_MS=400

out=$("$HAI" bench train --config configs/bench/tiny.pbtxt --steps 2 --warmup 1 --rounds 3 \
      --threads 1 --compare-torch --python /bin/sh --peer-script "$PEER" --json)
echo "$out"
args=$(cat "$FAKE_PEER_ARGS")
for want in "--threads 1" "--steps 6" "--warmup 1" "--serve" "--config configs/bench/tiny.pbtxt"; do
  grep -qF -- "$want" <<<"$args" || fail "peer arguments '$args' lack '$want'"
done
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r["rounds"] == 3, r
tokens = 8 * 64  # configs/bench/tiny.pbtxt: a batch of 8 x 64 tokens per step
assert abs(r["torch_tokens_per_s"] - tokens / 0.4) < 1e-6 * tokens, r
assert 0 < r["ratio_min"] <= r["ratio"] <= r["ratio_max"], r
# Each round's ratio is 400 ms over that round's median step.
assert abs(r["ratio"] - 400 / r["step_ms"]) < 0.5 * r["ratio"], r
print("rounds ok:", r["ratio_min"], r["ratio"], r["ratio_max"])
PY

# The table names the rounds.
"$HAI" bench train --config configs/bench/tiny.pbtxt --steps 2 --warmup 1 --rounds 2 \
    --threads 1 --compare-torch --python /bin/sh --peer-script "$PEER" \
  | grep -q "median of 2 interleaved rounds of 2 steps" || fail "table line"

# --profile counts every round's steps.
"$HAI" bench train --config configs/bench/tiny.pbtxt --steps 2 --warmup 1 --rounds 3 --threads 1 \
    --profile | grep -q "op profile: ms per step over 6 steps" || fail "--profile over the rounds"

# A peer that exits at once: an error naming the command, exit 1.
set +e
err=$("$HAI" bench train --config configs/bench/tiny.pbtxt --steps 2 --warmup 1 --rounds 2 \
      --threads 1 --compare-torch --python /bin/false --peer-script x 2>&1)
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "dead peer: exit $rc: $err"
# (It may be gone before the first command is written or after.)
grep -qE "the peer (exited before answering|stopped reading commands): /bin/false x" <<<"$err" ||
  fail "dead peer message: $err"

# Bad counts are refused.
set +e
"$HAI" bench train --config configs/bench/tiny.pbtxt --rounds 0 >/dev/null 2>"$T/err"
rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q -- "--rounds 0" "$T/err" || fail "--rounds 0: exit $rc: $(cat "$T/err")"
echo "PASS"
