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
# The sign test of the rounds: 3 of 3 faster reads 0.25, 2 of 3 or fewer 1.
assert 0 <= r["ratio_ahead_rounds"] <= 3, r
assert r["ratio_sign_p"] == (0.25 if r["ratio_ahead_rounds"] in (0, 3) else 1.0), r
if r["ratio_min"] > 1:
    assert r["ratio_ahead_rounds"] == 3, r
print("rounds ok:", r["ratio_min"], r["ratio"], r["ratio_max"], r["ratio_sign_p"])
PY

# The table names the rounds.
"$HAI" bench train --config configs/bench/tiny.pbtxt --steps 2 --warmup 1 --rounds 2 \
    --threads 1 --compare-torch --python /bin/sh --peer-script "$PEER" \
  | grep -qE "median of 2 interleaved rounds of 2 steps, [0-9.]+-[0-9.]+x; faster in [0-2], sign test p [0-9.]+\)" \
  || fail "table line"

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
# --against: a second trainer with the override, rounds interleaved; its
# own tokens per step (seq_len 32 of tiny's 64), per-round ratios.
out=$("$HAI" bench train --config configs/bench/tiny.pbtxt --steps 2 --warmup 1 --rounds 3 \
      --threads 1 --against train.seq_len=32 --json)
echo "$out"
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
a = r["against"]
assert a["set"] == "train.seq_len=32", a
assert a["tokens_per_step"] == 8 * 32, a
assert abs(a["tokens_per_s"] - 8 * 32 / (a["step_ms"] / 1e3)) < 1e-2 * a["tokens_per_s"], a
assert abs(r["tokens_per_s"] - 8 * 64 / (r["step_ms"] / 1e3)) < 1e-2 * r["tokens_per_s"], r
assert a["rounds"] == 3 and 0 <= a["ahead_rounds"] <= 3, a
assert 0 < a["speed_ratio_min"] <= a["speed_ratio"] <= a["speed_ratio_max"], a
# The sign test of 3 rounds: an even-or-closer split reads 1, 3-0 reads 0.25.
assert a["speed_sign_p"] in (0.25, 1.0), a
assert "after_slowest_ratio" not in a, a  # one rank: no data-parallel columns
assert a["built_first"] is False, a
PY
# --against-first builds the other trainer first (said in the JSON and the
# header); the comparison stays ours over theirs.
out=$("$HAI" bench train --config configs/bench/tiny.pbtxt --steps 1 --warmup 1 --rounds 2 \
      --threads 1 --against train.seq_len=32 --against-first --json)
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
a = r["against"]
assert a["built_first"] is True and a["tokens_per_step"] == 8 * 32, a
assert abs(r["tokens_per_s"] - 8 * 64 / (r["step_ms"] / 1e3)) < 1e-2 * r["tokens_per_s"], r
PY
"$HAI" bench train --config configs/bench/tiny.pbtxt --steps 1 --warmup 1 --threads 1 \
    --against train.seq_len=32 --against-first | grep -q "built first: against" ||
  fail "--against-first header"
"$HAI" bench train --config configs/bench/tiny.pbtxt --steps 2 --warmup 1 --rounds 2 --threads 1 \
    --against train.seq_len=32 --against train.micro_batch_size=4 >"$T/against"
grep -q "against train.seq_len=32 train.micro_batch_size=4: 2 rounds of 2 steps each" "$T/against" ||
  fail "against header: $(cat "$T/against")"
grep -qE "^per round, this / against: tokens/s [0-9.]+x \([0-9.]+-[0-9.]+\), ahead in [0-2] of 2 \(sign test p [0-9.]+\)$" \
  "$T/against" || fail "against ratio line: $(cat "$T/against")"
# What --against refuses, naming the flag: the process-wide thread count, a
# field that is not there, a value the trainer rejects, --profile.
set +e
"$HAI" bench train --config configs/bench/tiny.pbtxt --against-first >/dev/null 2>"$T/err"
rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q -- "--against-first needs --against" "$T/err" ||
  fail "--against-first alone: exit $rc: $(cat "$T/err")"
for bad in "train.threads=2:thread count is per process" \
           "train.nope=1:--against train.nope=1: unknown field" \
           "model.hidden_size=-3:--against model.hidden_size=-3: model.hidden_size"; do
  set +e
  "$HAI" bench train --config configs/bench/tiny.pbtxt --steps 1 --against "${bad%%:*}" \
      >/dev/null 2>"$T/err"
  rc=$?
  set -e
  [[ $rc -eq 2 ]] && grep -qF -- "${bad#*:}" "$T/err" || fail "--against ${bad%%:*}: exit $rc: $(cat "$T/err")"
done
set +e
"$HAI" bench train --config configs/bench/tiny.pbtxt --against train.seq_len=32 --profile \
    >/dev/null 2>"$T/err"
rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "neither --compare-torch nor --profile" "$T/err" ||
  fail "--against --profile: exit $rc: $(cat "$T/err")"
echo "PASS"
