#!/usr/bin/env bash
# hai eval-task end to end: a short SFT run on the addition task, then
# eval-task's count equals the records of --out marked correct, each mark is
# answer == reference, and its answers are `hai generate`'s greedy
# completions of the same prompts (same weights, same template). Bad flags
# exit 2; a bad record exits 1 naming file:line.
set -euo pipefail
HAI="$(pwd)/tools/hai"
W="${TEST_TMPDIR:-$(mktemp -d)}/eval_task"
mkdir -p "$W"
cd "$W"
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
set +e
"$HAI" eval-task --tokenizer tok.json --data task/eval.jsonl >/dev/null 2>err.txt; rc=$?
[[ $rc == 2 ]] && grep -q -- "--weights is required" err.txt || { echo "missing flag: rc $rc"; cat err.txt; exit 1; }
printf '{"prompt":"1+1="}\n' > bad.jsonl
"$HAI" eval-task --weights run/weights --tokenizer tok.json --data bad.jsonl --format plain \
  >/dev/null 2>err.txt; rc=$?
[[ $rc == 1 ]] && grep -q "bad.jsonl:1: the last message must be the reference reply" err.txt \
  || { echo "bad record: rc $rc"; cat err.txt; exit 1; }
echo PASS
