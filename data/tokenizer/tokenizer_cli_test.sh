#!/usr/bin/env bash
# `hai data tokenizer-train | encode | decode` end to end: train, encode
# arbitrary bytes (invalid UTF-8 included), decode back byte-identically,
# print ids, and fail clearly on bad input.
set -euo pipefail
HAI=data/tokenizer/hai_tokenizer
T=${TEST_TMPDIR:-$(mktemp -d)}

fail() { echo "FAIL: $*"; exit 1; }

for i in $(seq 1 300); do
  echo "Line $i: the quick brown fox jumps over the lazy dog; numbers $((i * 7919)) and 你好世界."
done > "$T/corpus.txt"

"$HAI" data tokenizer-train --in "$T/corpus.txt" --vocab 400 --out "$T/tok.json" \
  --pre-tokenizer deepseek --special "<|eos|>" --threads 2 | tee "$T/train.log"
grep -q "trained a 400-token BPE" "$T/train.log" || fail "train summary"

# Any bytes round-trip: text, a special token, invalid UTF-8, a long space run.
{ echo "Hello <|eos|> world"; printf 'bad \xff\xfe utf8 \xc3'; printf '%*s' 2000 ''; } > "$T/in.bin"
"$HAI" data encode --tokenizer "$T/tok.json" --in "$T/in.bin" --out "$T/ids.bin"
"$HAI" data decode --tokenizer "$T/tok.json" --in "$T/ids.bin" --out "$T/back.bin"
cmp "$T/in.bin" "$T/back.bin" || fail "decode(encode(x)) != x"
(( $(stat -c %s "$T/ids.bin") % 4 == 0 )) || fail "ids file not uint32"

# --out - prints the ids; the special token is id 0.
printf '<|eos|>' > "$T/eos.txt"
[[ $("$HAI" data encode --tokenizer "$T/tok.json" --in "$T/eos.txt" --out -) == "0" ]] \
  || fail "special token id"
[[ $("$HAI" data encode --tokenizer "$T/tok.json" --in "$T/eos.txt" --out - --no-special) != "0" ]] \
  || fail "--no-special"

# Errors name the file or field and exit 1.
expect_error() {  # expect_error PATTERN command...
  local pattern=$1; shift
  if "$@" > "$T/out.txt" 2>&1; then fail "succeeded: $*"; fi
  grep -q -- "$pattern" "$T/out.txt" || { cat "$T/out.txt"; fail "no '$pattern' in error"; }
}
printf 'abc' > "$T/odd.bin"
expect_error "odd.bin: size 3 is not a multiple of 4" \
  "$HAI" data decode --tokenizer "$T/tok.json" --in "$T/odd.bin" --out -
printf '\xff\xff\xff\x7f' > "$T/big.bin"
expect_error "token id 2147483647 at position 0" \
  "$HAI" data decode --tokenizer "$T/tok.json" --in "$T/big.bin" --out -
sed 's/"byte_fallback": false/"byte_fallback": true/' "$T/tok.json" > "$T/bad.json"
expect_error "bad.json: model.byte_fallback" \
  "$HAI" data encode --tokenizer "$T/bad.json" --in "$T/eos.txt" --out -
sed 's/"type": "NFC"//; s/"normalizer": null/"normalizer": {"type": "Lowercase"}/' "$T/tok.json" > "$T/bad2.json"
expect_error "normalizer.type: unsupported normalizer type \"Lowercase\"" \
  "$HAI" data encode --tokenizer "$T/bad2.json" --in "$T/eos.txt" --out -
expect_error "unknown pre-tokenizer \"llama\"" \
  "$HAI" data tokenizer-train --in "$T/corpus.txt" --vocab 300 --out "$T/x.json" --pre-tokenizer llama
expect_error "/nonexistent.txt" \
  "$HAI" data encode --tokenizer "$T/tok.json" --in /nonexistent.txt --out -
echo "PASSED"
