#!/usr/bin/env bash
# hai data prepare-sft / prepare-dpo / make-task through the CLI: the
# summary counts (truncated, dropped), the rows a training run accepts, and
# errors naming file:line, the flag or the task.
set -euo pipefail
HAI="$(pwd)/data/post/hai_post"
W="${TEST_TMPDIR:-$(mktemp -d)}/post_cli"
mkdir -p "$W"
cd "$W"
fail() { echo "FAIL: $*"; exit 1; }
"$HAI" data make-task addition --digits 2 --train 50 --eval 10 --out task >/dev/null
[[ $(wc -l < task/sft_train.jsonl) == 50 && $(wc -l < task/dpo_train.jsonl) == 50 &&
   $(wc -l < task/eval.jsonl) == 10 ]] || fail "make-task line counts"
# No held-out problem is a training problem; chosen is the sum, rejected not.
python3 - <<'PY'
import json
train = {json.loads(l)["prompt"] for l in open("task/sft_train.jsonl")}
held = [json.loads(l)["prompt"] for l in open("task/eval.jsonl")]
assert not train & set(held), "held-out problem in training"
for l in open("task/dpo_train.jsonl"):
    r = json.loads(l)
    a, b = r["prompt"].rstrip("=").split("+")
    assert int(r["chosen"]) == int(a) + int(b) != int(r["rejected"]), r
PY
"$HAI" data tokenizer-train --in task/corpus.txt --vocab 258 --special "<｜begin▁of▁sentence｜>" \
  --special "<｜end▁of▁sentence｜>" --out tok.json >/dev/null
# Two conversations too long for a row of 16: a long answer (truncated, or
# dropped with --drop-long) and a long prompt (nothing left to train once
# cut: dropped either way).
{ cat task/sft_train.jsonl
  echo '{"prompt":"1+1=","completion":"22222222222222222222"}'
  echo '{"messages":[{"role":"user","content":"1234567890+1234567890="},{"role":"assistant","content":"2469135780"}]}'
} > chats.jsonl
out=$("$HAI" data prepare-sft --tokenizer tok.json --in chats.jsonl --format plain --seq 16 --out sft)
[[ "$out" == *"51 examples"*"1 truncated, 1 dropped"* ]] || fail "truncate summary: $out"
out=$("$HAI" data prepare-sft --tokenizer tok.json --in chats.jsonl --format plain --seq 16 \
  --drop-long --out sft2)
[[ "$out" == *"50 examples"*"0 truncated, 2 dropped"* ]] || fail "drop summary: $out"
[[ -f sft/rows.hpr && -f sft/summary.txt ]] || fail "outputs"
out=$("$HAI" data prepare-dpo --tokenizer tok.json --in task/dpo_train.jsonl --format plain \
  --seq 16 --out dpo)
[[ "$out" == *"DPO rows: 50 examples in 100 rows"* ]] || fail "dpo summary: $out"
set +e
printf '{"prompt":"1+1=","completion":"2"}\n{"messages":[{"role":"robot","content":"x"}]}\n' > bad.jsonl
"$HAI" data prepare-sft --tokenizer tok.json --in bad.jsonl --out x 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q 'bad.jsonl:2: messages\[0\].role: "robot" is not system, user or assistant' err.txt \
  || fail "bad role: rc $rc $(cat err.txt)"
printf '{"prompt":"1+1=","chosen":"2"}\n' > badpair.jsonl
"$HAI" data prepare-dpo --tokenizer tok.json --in badpair.jsonl --out x 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q 'badpair.jsonl:1: missing "rejected"' err.txt || fail "bad pair: rc $rc"
printf '{"prompt":"1+1="}\n' > noreply.jsonl
"$HAI" data prepare-sft --tokenizer tok.json --in noreply.jsonl --out x 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q 'noreply.jsonl:1: no assistant message to train on' err.txt || fail "no reply"
"$HAI" data prepare-sft --tokenizer tok.json --in chats.jsonl 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q -- '--out is required' err.txt || fail "missing --out: rc $rc"
"$HAI" data prepare-sft --tokenizer tok.json --in chats.jsonl --out x --format chatml 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q 'unknown chat format "chatml"' err.txt || fail "format: rc $rc"
"$HAI" data make-task subtraction --out t2 2>err.txt; rc=$?
[[ $rc == 2 ]] && grep -q 'tasks: addition' err.txt || fail "unknown task: rc $rc"
"$HAI" data make-task addition --digits 1 --train 90 --out t3 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q 'ask for at most half' err.txt || fail "too many problems: rc $rc"
echo PASS
