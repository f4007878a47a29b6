#!/bin/sh
# A stand-in for tools/peers/deepseek_v2_torch.py --serve in
# bench_train_rounds_test.sh: records its arguments in $FAKE_PEER_ARGS and
# answers every "steps K" with K steps of $FAKE_PEER_MS milliseconds.
echo "$*" > "$FAKE_PEER_ARGS"
while read -r cmd k; do
  s=''
  i=0
  while [ "$i" -lt "$k" ]; do
    i=$((i + 1))
    s="$s${s:+, }$FAKE_PEER_MS"
  done
  echo "{\"step_ms\": [$s]}"
done
