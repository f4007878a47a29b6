#!/bin/bash
# tests/checkpoint/convert_cli_test.sh: `hai convert` end to end. A HF folder
# written by an independent Python writer goes HF -> checkpoint -> HF (one
# file, then sharded) and comes back with identical tensors; bad usage and
# bad input exit non-zero with a message.
#   $1: hai_convert binary   $2: write_hf_folder.py
set -u
HAI="$1"; PY="$2"
ROOT="${TEST_TMPDIR:-/tmp}/convert_cli"
rm -rf "$ROOT"; mkdir -p "$ROOT"
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 "$PY" write "$ROOT/hf" || fail "python writer"
"$HAI" convert --from "$ROOT/hf" --to "$ROOT/run" || fail "HF -> checkpoint"
[ "$(cat "$ROOT/run/checkpoints/latest")" = "step_00000000" ] || fail "latest"
"$HAI" convert --from "$ROOT/run" --to "$ROOT/hf_out" --dtype bf16 || fail "checkpoint -> HF"
python3 "$PY" compare "$ROOT/hf/model.safetensors" "$ROOT/hf_out/model.safetensors" || fail "round trip differs"
[ -f "$ROOT/hf_out/config.json" ] || fail "no config.json"

"$HAI" convert --from "$ROOT/run/checkpoints/step_00000000" --to "$ROOT/hf_sharded" \
    --dtype bf16 --max-shard-size 1KB || fail "sharded export"
ls "$ROOT/hf_sharded" | grep -q '^model-00001-of-000[0-9][0-9].safetensors$' || fail "no shard files: $(ls "$ROOT/hf_sharded")"
[ -f "$ROOT/hf_sharded/model.safetensors.index.json" ] || fail "no index"
python3 "$PY" compare "$ROOT/hf" "$ROOT/hf_sharded" || fail "sharded round trip differs"

# Errors: exit codes and messages.
"$HAI" convert --from "$ROOT/run" --to "$ROOT/hf_out" 2> "$ROOT/err1"; rc=$?
[ $rc -eq 1 ] && grep -q "already exists" "$ROOT/err1" || fail "existing --to: rc $rc, $(cat "$ROOT/err1")"
"$HAI" convert --from "$ROOT/run" --to "$ROOT/x" --dtype f64 2> "$ROOT/err2"; rc=$?
[ $rc -eq 2 ] && grep -q "dtype must be f32 or bf16" "$ROOT/err2" || fail "bad dtype: rc $rc"
"$HAI" convert --from "$ROOT/nowhere" --to "$ROOT/y" 2> "$ROOT/err3"; rc=$?
[ $rc -ne 0 ] && grep -q "nowhere" "$ROOT/err3" || fail "missing --from: rc $rc"
printf 'x' >> "$ROOT/run/checkpoints/step_00000000/rank_00000.safetensors"
"$HAI" convert --from "$ROOT/run" --to "$ROOT/z" 2> "$ROOT/err4"; rc=$?
[ $rc -eq 1 ] && grep -q "none is intact" "$ROOT/err4" && grep -q "rank_00000.safetensors" "$ROOT/err4" \
    || fail "damaged checkpoint: rc $rc, $(cat "$ROOT/err4")"
[ ! -e "$ROOT/z" ] || fail "output written from a damaged checkpoint"
echo "convert cli: OK"
