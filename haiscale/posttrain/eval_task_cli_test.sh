#!/usr/bin/env bash
# hai eval-task end to end: a short SFT run on the addition task, then
# eval-task's count equals the records of --out marked correct, each mark is
# answer == reference, and its answers are `hai generate`'s greedy
# completions of the same prompts (same weights, same template). Then
# on-policy pairs: `eval-task --samples 4 --temperature 1` on training
# problems (the same seed gives the same answers, another seed other ones)
# and `hai data make-pairs`, whose pairs have the sum as chosen and exactly
# the distinct wrong answers the model gave as rejected; prepare-dpo accepts
# them. Bad flags exit 2; a bad record exits 1 naming file:line.
set -euo pipefail
HAI="$(pwd)/tools/hai"
W="${TEST_TMPDIR:-$(mktemp -d)}/eval_task"
mkdir -p "$W"
cd "$W"
fail() { echo "FAIL: $*"; exit 1; }
"$HAI" data make-task addition --digits 2 --train 300 --eval 24 --out task >/dev/null
"$HAI" data tokenizer-train --in task/corpus.txt --vocab 258 --special "<｜begin▁of▁sentence｜>" \
  --special "<｜end▁of▁sentence｜>" --out tok.json >/dev/null
"$HAI" data prepare-sft --tokenizer tok.json --in task/sft_train.jsonl --format plain --seq 32 \
  --out sft >/dev/null
cat > run.pbtxt <<'PB'
model {
  vocab_size: 258 hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 16
  num_hidden_layers: 2 num_attention_heads: 2 kv_lora_rank: 16 q_lora_rank: 24
  qk_nope_head_dim: 8 qk_rope_head_dim: 8 v_head_dim: 8
  first_k_dense_replace: 1 n_routed_experts: 4 num_experts_per_tok: 2 n_shared_experts: 1
  max_position_embeddings: 64 initializer_range: 0.05 bos_token_id: 0 eos_token_id: 1
}
train { seed: 3 steps: 40 global_batch_size: 8 micro_batch_size: 8 seq_len: 32 threads: 1 log_every: 40 }
optimizer { type: ADAMW lr: 3e-3 }
objective { type: SFT }
data { shuffle: true }
PB
"$HAI" train --config run.pbtxt --data sft --output-dir run --quiet --no-resume >/dev/null
out=$("$HAI" eval-task --weights run/weights --tokenizer tok.json --data task/eval.jsonl \
  --format plain --max-new-tokens 6 --batch 5 --out answers.jsonl)
echo "$out"
# The count, the marks, and the rendered prompts (bos included) for
# hai generate to continue as plain text.
python3 - "$out" <<'PY'
import json, re, sys
m = re.fullmatch(r"exact match: (\d+)/(\d+) = [0-9.]+%", sys.argv[1].strip())
assert m, sys.argv[1]
recs = [json.loads(l) for l in open("answers.jsonl")]
assert len(recs) == int(m.group(2)) == 24, (len(recs), m.group(2))
assert sum(r["correct"] for r in recs) == int(m.group(1))
for r in recs:
    assert r["correct"] == (r["answer"] == r["reference"]), r
with open("prompts.jsonl", "w") as f:
    for r in recs:
        f.write(json.dumps({"prompt": r["prompt"]}) + "\n")
PY
"$HAI" generate --weights run/weights --tokenizer tok.json --prompts prompts.jsonl \
  --max-new-tokens 6 --batch 5 --out generated.jsonl >/dev/null
python3 - <<'PY'
import json
ours = [json.loads(l) for l in open("answers.jsonl")]
gen = [json.loads(l) for l in open("generated.jsonl")]
assert len(ours) == len(gen)
for o, g in zip(ours, gen):
    text = g.get("completion", g.get("text"))
    assert text is not None, g
    assert o["answer"] == text.strip(), (o, g)
print("eval-task answers equal hai generate's greedy completions for", len(ours), "prompts")
PY
# On-policy pairs from sampled answers to training problems.
E=(eval-task --weights run/weights --tokenizer tok.json --data task/sft_train.jsonl --format plain
   --max-new-tokens 6 --batch 7 --limit 40)
sampled=$("$HAI" "${E[@]}" --samples 4 --temperature 1.0 --seed 5 --out samples.jsonl)
echo "$sampled"
"$HAI" "${E[@]}" --samples 4 --temperature 1.0 --seed 5 --out samples_again.jsonl >/dev/null
"$HAI" "${E[@]}" --samples 4 --temperature 1.0 --seed 6 --out samples_other.jsonl >/dev/null
cmp -s samples.jsonl samples_again.jsonl || fail "the same seed gave other answers"
cmp -s samples.jsonl samples_other.jsonl && fail "another seed gave the same answers"
"$HAI" "${E[@]}" --out train_greedy.jsonl >/dev/null
sum=$("$HAI" data make-pairs --answers samples.jsonl --out pairs.jsonl)
echo "$sum"
"$HAI" data make-pairs --answers samples.jsonl --max-per-prompt 1 --out pairs_one.jsonl >/dev/null
python3 - "$sampled" "$sum" <<'PY'
import json, re, sys
m = re.fullmatch(r"exact match: (\d+)/(\d+) = [0-9.]+%", sys.argv[1].strip())
assert m and int(m.group(2)) == 160, sys.argv[1]
ans = [json.loads(l) for l in open("samples.jsonl")]
assert len(ans) == 160 and sum(a["correct"] for a in ans) == int(m.group(1))
# Four answers per record, in record order, with the record's messages.
recs = [json.loads(l) for l in open("task/sft_train.jsonl")][:40]
for i, a in enumerate(ans):
    r = recs[i // 4]
    assert a["prompt_messages"] == [{"role": "user", "content": r["prompt"]}], a
    assert a["reference"] == r["completion"] and a["correct"] == (a["answer"] == a["reference"]), a
greedy = [json.loads(l) for l in open("train_greedy.jsonl")]
assert len(greedy) == 40 and len({(a["prompt"], a["answer"]) for a in ans}) > 40, "samples vary"
# Expected pairs: per prompt in file order, its distinct wrong answers.
want, wrong = [], {}
for a in ans:
    p = a["prompt_messages"][0]["content"]
    wrong.setdefault(p, [])
    if a["answer"] != a["reference"] and a["answer"] not in wrong[p]:
        wrong[p].append(a["answer"])
for p, ws in wrong.items():
    x, y = p.rstrip("=").split("+")
    for w in ws:
        want.append({"prompt": p, "chosen": str(int(x) + int(y)), "rejected": w})
got = [json.loads(l) for l in open("pairs.jsonl")]
assert got == want, (got[:3], want[:3])
assert len(got) > 0
one = [json.loads(l) for l in open("pairs_one.jsonl")]
assert one == [{"prompt": p, "chosen": str(sum(map(int, p.rstrip("=").split("+")))),
                "rejected": ws[0]} for p, ws in wrong.items() if ws]
n_wrong = sum(not a["correct"] for a in ans)
s = sys.argv[2]
assert f"160 answers to 40 prompts, {n_wrong} wrong" in s and f"{len(got)} pairs from" in s, s
print(len(got), "pairs from", len(ans), "sampled answers")
PY
prepared=$("$HAI" data prepare-dpo --tokenizer tok.json --in pairs.jsonl --format plain --seq 16 --out dpo)
n=$(wc -l < pairs.jsonl)
[[ "$prepared" == *"DPO rows: $n examples in $((2 * n)) rows"* ]] || fail "prepare-dpo: $prepared"
set +e
"$HAI" eval-task --tokenizer tok.json --data task/eval.jsonl >/dev/null 2>err.txt; rc=$?
[[ $rc == 2 ]] && grep -q -- "--weights is required" err.txt || { echo "missing flag: rc $rc"; cat err.txt; exit 1; }
printf '{"prompt":"1+1="}\n' > bad.jsonl
"$HAI" eval-task --weights run/weights --tokenizer tok.json --data bad.jsonl --format plain \
  >/dev/null 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q "bad.jsonl:1: the last message must be the reference reply" err.txt \
  || { echo "bad record: rc $rc"; cat err.txt; exit 1; }
"$HAI" data make-pairs --answers samples.jsonl 2>err.txt; rc=$?
[[ $rc == 2 ]] && grep -q -- "--out is required" err.txt || fail "missing --out: rc $rc"
"$HAI" eval-task --weights run/weights --tokenizer tok.json --data task/eval.jsonl --samples 3 \
  2>err.txt; rc=$?
[[ $rc == 2 ]] && grep -q -- "--samples > 1 needs --temperature > 0" err.txt || fail "samples: rc $rc"
head -2 samples.jsonl > badanswers.jsonl
echo '{"prompt": "<bos>1+1=\n", "reference": "2", "answer": "3"}' >> badanswers.jsonl
"$HAI" data make-pairs --answers badanswers.jsonl --out x.jsonl 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q 'badanswers.jsonl:3: missing "prompt_messages"' err.txt || fail "old record: rc $rc"
python3 -c '
import json
for l in open("train_greedy.jsonl"):
    r = json.loads(l); r["answer"] = r["reference"]; print(json.dumps(r))' > right_answers.jsonl
"$HAI" data make-pairs --answers right_answers.jsonl --out x.jsonl 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q 'every answer is correct, no pair to write' err.txt || fail "no pairs: rc $rc"
[[ ! -e x.jsonl ]] || fail "wrote a file on error"
echo PASS
