#!/usr/bin/env bash
# `hai generate` end to end on a tiny trained model: --ids without a
# tokenizer, text prompts with a trained tokenizer, the DeepSeek-V2 chat
# template's exact prompt, JSONL output, the KV-cache header, batch and
# attention-mode invariance, determinism for a seed, EOS and stop strings,
# and clear errors.
#
# usage: generate_cli_test.sh   (run by bazel from the workspace root)
set -euo pipefail
case_name=generate_cli
source "$(pwd)/tests/parity/common.sh"
fail() { echo "FAIL: $*"; exit 1; }
# expect_fail CODE PATTERN CMD...: CMD exits with CODE and prints PATTERN.
expect_fail() {
  local code="$1" pattern="$2"; shift 2
  set +e
  out=$(timeout 60 "$@" 2>&1)
  local rc=$?
  set -e
  [[ $rc -eq $code ]] || { echo "$out"; fail "expected exit $code, got $rc: $*"; }
  grep -qF -- "$pattern" <<<"$out" || { echo "$out"; fail "output of '$*' lacks: $pattern"; }
}

"$HAI" train --config "$CONFIG" --data "$WORK/corpus.bin" --quiet --steps 2 \
  --output-dir "$WORK/run" --set model.vocab_size=300 --set train.threads=1 >/dev/null
W="$WORK/run/weights"
for i in $(seq 40); do
  echo "User: what is $i plus $i? Assistant: it is $((2 * i)). The quick brown fox."
done >"$WORK/text.txt"
"$HAI" data tokenizer-train --in "$WORK/text.txt" --vocab 290 --out "$WORK/tok.json" \
  --special "<｜begin▁of▁sentence｜>" --special "<｜end▁of▁sentence｜>" >/dev/null
gen=("$HAI" generate --weights "$W" --threads 1)

# ---- token ids in, token ids out; the header reports the cache sizes
# (tiny.pbtxt: 4 layers x (kv_lora 16 + rope 8) x 4 B = 384 B latent;
# 4 layers x 2 heads x (16 + 8) x 4 B = 768 B per-head K/V).
out=$("${gen[@]}" --ids 1,2,3 --ids 7 --max-new-tokens 5 2>"$WORK/err")
grep -qF "KV cache 384 B/token (latent c_kv 16 + k_pe 8 per layer, fp32) vs 768 B/token per-head K/V: 50.0%, 2.0x smaller" "$WORK/err" \
  || { cat "$WORK/err"; fail "header"; }
[[ $(wc -l <<<"$out") -eq 2 ]] || fail "two lines expected: $out"
while read -r line; do
  [[ $(tr ',' '\n' <<<"$line" | wc -l) -eq 5 ]] || fail "5 ids expected: $line"
done <<<"$out"
exp=$("${gen[@]}" --ids 1,2,3 --ids 7 --max-new-tokens 5 --attention expanded 2>/dev/null)
[[ "$out" == "$exp" ]] || fail "expanded attention differs: $out vs $exp"

# ---- EOS: the first greedy token as --eos-id ends generation at once.
first=$(head -1 <<<"$out" | cut -d, -f1)
"${gen[@]}" --ids 1,2,3 --max-new-tokens 5 --eos-id "$first" --out "$WORK/eos.jsonl" 2>/dev/null
python3 - "$WORK/eos.jsonl" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 1 and r[0]["completion_ids"] == [] and r[0]["finish_reason"] == "stop", r
PY

# ---- text prompts: batch and seed invariance, JSONL records.
cat >"$WORK/prompts.jsonl" <<'EOF2'
{"prompt": "what is 3 plus 3?"}
{"prompt": "The quick", "completion": "brown fox"}

{"messages": [{"role": "user", "content": "hi"}]}
EOF2
sample=(--tokenizer "$WORK/tok.json" --prompts "$WORK/prompts.jsonl" --max-new-tokens 12
        --temperature 0.9 --top-k 50 --top-p 0.95 --seed 5 --no-bos)
"${gen[@]}" "${sample[@]}" --batch 1 --out "$WORK/b1.jsonl" 2>/dev/null
"${gen[@]}" "${sample[@]}" --batch 3 --out "$WORK/b3.jsonl" 2>/dev/null
"${gen[@]}" "${sample[@]}" --batch 2 --out "$WORK/b2.jsonl" 2>/dev/null
cmp "$WORK/b1.jsonl" "$WORK/b3.jsonl" || fail "batch 3 differs from batch 1"
cmp "$WORK/b1.jsonl" "$WORK/b2.jsonl" || fail "batch 2 differs from batch 1"
"${gen[@]}" "${sample[@]}" --batch 3 --seed 6 --out "$WORK/s6.jsonl" 2>/dev/null
! cmp -s "$WORK/b1.jsonl" "$WORK/s6.jsonl" || fail "another seed gave the same samples"
python3 - "$WORK/b1.jsonl" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert [x["index"] for x in r] == [0, 1, 2], r
assert r[0]["prompt"] == "what is 3 plus 3?", r[0]
assert r[1]["reference"] == "brown fox" and "reference" not in r[0], r
for x in r:
    assert len(x["completion_ids"]) == 12 and x["finish_reason"] == "length", x
    assert isinstance(x["completion"], str) and x["prompt_ids"], x
PY

# ---- stop strings: the completion ends before the first occurrence.
python3 - "$WORK/b1.jsonl" >"$WORK/stop.txt" <<'PY'
import json, sys
c = json.loads(open(sys.argv[1]).readline())["completion"]
# Two printable ASCII characters after the first (invalid UTF-8 shows as
# U+FFFD in the JSON and would not match the raw bytes).
print(next(c[i:i + 2] for i in range(1, len(c) - 1)
           if all(32 <= ord(ch) < 127 for ch in c[i:i + 2])), end="")
PY
stop=$(cat "$WORK/stop.txt")
"${gen[@]}" "${sample[@]}" --batch 3 --stop "$stop" --out "$WORK/stop.jsonl" 2>/dev/null
python3 - "$WORK/b1.jsonl" "$WORK/stop.jsonl" "$stop" <<'PY'
import json, sys
full = json.loads(open(sys.argv[1]).readline())
cut = json.loads(open(sys.argv[2]).readline())
stop = sys.argv[3]
assert cut["finish_reason"] == "stop_string", cut
assert cut["completion"] == full["completion"][:full["completion"].index(stop)], (cut, full)
PY

# ---- chat: DeepSeek-V2's template, BOS/EOS strings from the tokenizer.
"${gen[@]}" --tokenizer "$WORK/tok.json" --prompt "hi" --chat --max-new-tokens 3 \
  --out "$WORK/chat.jsonl" 2>/dev/null
python3 - "$WORK/chat.jsonl" "$WORK/tok.json" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
tok = json.load(open(sys.argv[2]))
bos = [t["id"] for t in tok["added_tokens"] if t["content"] == "<｜begin▁of▁sentence｜>"][0]
assert r["prompt"] == "<｜begin▁of▁sentence｜>User: hi\n\nAssistant:", r["prompt"]
assert r["prompt_ids"][0] == bos, r
PY
# Streaming one prompt prints the prompt, then the completion.
"${gen[@]}" --tokenizer "$WORK/tok.json" --prompt "The quick" --no-bos --max-new-tokens 4 \
  --stream 2>/dev/null | grep -q "^The quick" || fail "stream"

# ---- errors
expect_fail 2 "give exactly one of --prompt, --prompts or --ids" "${gen[@]}"
expect_fail 2 "--prompt/--prompts need --tokenizer" "${gen[@]}" --prompt hi
expect_fail 2 "--ids: \"x\" is not a token id" "${gen[@]}" --ids 1,x
expect_fail 2 "--top-p must be in (0, 1]" "${gen[@]}" --ids 1 --top-p 0
expect_fail 2 "--batch must be >= 1" "${gen[@]}" --ids 1 --batch 0
expect_fail 2 "decode token[1] = 300 is outside the vocabulary [0, 300)" "${gen[@]}" --ids 1,300
expect_fail 2 "has 70 tokens; the model's context is 64" "${gen[@]}" --ids "$(seq -s, 70)"
echo '{"prompt": 3}' >"$WORK/bad.jsonl"
expect_fail 2 "bad.jsonl:1: \"prompt\" must be a string" \
  "${gen[@]}" --tokenizer "$WORK/tok.json" --prompts "$WORK/bad.jsonl"
expect_fail 2 "needs --chat" "${gen[@]}" --tokenizer "$WORK/tok.json" --prompts <(
  echo '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}')
expect_fail 2 "--weights DIR is required" "$HAI" generate --ids 1
echo PASS
