#!/usr/bin/env bash
# Post-training parity: `mpirun -np N hai train` with objective.type SFT or
# DPO gives the same per-step losses (SFT: and held-out losses, trained
# tokens, token accuracy; DPO: and every rewards/logps metric) and the same
# first-step gradients as one process with the same global batch and seed.
# Data: the addition task through hai (make-task, tokenizer-train,
# prepare-sft / prepare-dpo), so SFT rows hold packed examples with prompt
# tokens masked and a different number of trained tokens per rank.
#
# DPO runs with the RPO term (nll_loss) and a held-out preference set
# (eval_loss and the eval_ metrics every 10 steps).
#
# usage: post_training_parity_test.sh CASE
#   (sft_dp2 | sft_dp4_2nodes | sft_ep2 | sft_pp2 | dpo_dp2 | dpo_dp4_2nodes |
#    dpo_dp4_node_shared | dpo_ep2 | dpo_pp2 | dpo_pp2_dp2)
set -euo pipefail
case_name="$1"
source "$(pwd)/tests/parity/common.sh"

"$HAI" data make-task addition --digits 2 --train 200 --eval 40 --out "$WORK/task" >/dev/null
"$HAI" data tokenizer-train --in "$WORK/task/corpus.txt" --vocab 258 \
  --special "<｜begin▁of▁sentence｜>" --special "<｜end▁of▁sentence｜>" --out "$WORK/tok.json" >/dev/null
for split in sft_train eval; do
  "$HAI" data prepare-sft --tokenizer "$WORK/tok.json" --in "$WORK/task/$split.jsonl" \
    --format plain --seq 32 --out "$WORK/$split" >/dev/null
done
"$HAI" data prepare-dpo --tokenizer "$WORK/tok.json" --in "$WORK/task/dpo_train.jsonl" \
  --format plain --seq 32 --out "$WORK/dpo_train" >/dev/null
# Held-out pairs: 13 (not a multiple of the 4 pairs of a global batch).
head -n 13 "$WORK/task/dpo_train.jsonl" >"$WORK/dpo_eval.jsonl"
"$HAI" data prepare-dpo --tokenizer "$WORK/tok.json" --in "$WORK/dpo_eval.jsonl" \
  --format plain --seq 32 --out "$WORK/dpo_eval" >/dev/null
if [[ "$case_name" == dpo_* ]]; then
  DATA="$WORK/dpo_train"
  SFT=(--set objective.type=DPO --set model.vocab_size=258 --set objective.dpo_beta=0.5
       --set objective.dpo_label_smoothing=0.1 --set objective.dpo_rpo_alpha=0.3
       --set train.eval_every=10 --set "data.eval_path=$WORK/dpo_eval")
  KEYS="rewards/chosen rewards/rejected rewards/accuracies rewards/margins logps/chosen logps/rejected
        nll_loss eval_loss eval_rewards/accuracies eval_rewards/margins eval_logps/chosen eval_nll_loss"
else
  DATA="$WORK/sft_train"
  SFT=(--set objective.type=SFT --set model.vocab_size=258 --set train.eval_every=10
       --set train.eval_batches=1 --set "data.eval_path=$WORK/eval")
  KEYS="trained_tokens token_accuracy"
fi

reference() {
  timeout 300 "$HAI" train --config "$CONFIG" --data "$DATA" --output-dir "$WORK/ref" \
    --quiet --no-resume --dump-grads "$WORK/ref_grads" "${SFT[@]}"
}
LAST_ARGS=()
parallel_run() {
  LAST_ARGS=("$@")
  local np="$1"; shift
  timeout 300 "${MPIRUN[@]}" -np "$np" "$HAI" train --config "$CONFIG" --data "$DATA" \
    --output-dir "$WORK/run" --quiet --no-resume --check-replicas "${SFT[@]}" "$@"
}

reference
case "$case_name" in
  sft_dp2)        parallel_run 2 ;;
  sft_dp4_2nodes) parallel_run 4 --set parallel.ranks_per_node=2 ;;
  sft_ep2)        parallel_run 2 --ep 2 ;;
  sft_pp2)        parallel_run 2 --pp 2 --set train.micro_batch_size=1 ;;
  dpo_dp2)        parallel_run 2 ;;
  dpo_dp4_2nodes) parallel_run 4 --set parallel.ranks_per_node=2 ;;
  dpo_dp4_node_shared) parallel_run 4 --set parallel.ranks_per_node=2 --set parallel.node_shared_params=true ;;
  dpo_ep2)        parallel_run 2 --ep 2 ;;
  dpo_pp2)        parallel_run 2 --pp 2 ;;
  dpo_pp2_dp2)    parallel_run 4 --pp 2 --set parallel.pp_schedule=ZB_H1 ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
python3 "$COMPARE" "$WORK/ref/metrics.jsonl" "$WORK/run/metrics.jsonl" --rel-tol 1e-5
python3 - "$WORK/ref/metrics.jsonl" "$WORK/run/metrics.jsonl" $KEYS <<'PY'
import json, sys
ref, run = ([json.loads(l) for l in open(p) if l.strip()] for p in sys.argv[1:3])
assert len(ref) == len(run), (len(ref), len(run))
seen = set()
for r, x in zip(ref, run):
    for key in sys.argv[3:]:
        # Held-out metrics exist on evaluation steps only, in both runs alike.
        if key not in r and key.startswith("eval_"):
            if key in x:
                sys.exit(f"step {r['step']}: {key} only in the parallel run")
            continue
        seen.add(key)
        if key == "token_accuracy":
            # An argmax may flip on a last-bit difference of the logits.
            ok = abs(r[key] - x[key]) * r["trained_tokens"] <= 1 + 1e-9
        elif "accuracies" in key:
            # Whether a pair's chosen reward beats its rejected one. Where the
            # margins are at the rewards' rounding level (the first step, with
            # the policy equal to the reference, computed one pair per forward
            # for the policy and one sequence per forward for the reference)
            # the signs are rounding noise in either run.
            logp = r["eval_logps/chosen" if key.startswith("eval_") else "logps/chosen"]
            margins = key.replace("accuracies", "margins")
            noise = 1e-5 * 0.5 * abs(logp)
            ok = (abs(r[key] - x[key]) <= 1e-9 or
                  (abs(r[margins]) <= noise and abs(x[margins]) <= noise))
        elif "rewards/" in key:
            # β (logp - logp_ref): a difference of float32 sums of |logp| ~ 20,
            # so its rounding is relative to β |logp|, not to the (small) reward.
            logp = r["eval_logps/chosen" if key.startswith("eval_") else "logps/chosen"]
            ok = abs(r[key] - x[key]) <= 1e-5 * max(abs(r[key]), 0.5 * abs(logp))
        else:
            ok = abs(r[key] - x[key]) <= 1e-5 * max(abs(r[key]), 1e-3)
        if not ok:
            sys.exit(f"step {r['step']}: {key} {r[key]} vs {x[key]}")
missing = set(sys.argv[3:]) - seen
if missing:
    sys.exit(f"never logged: {sorted(missing)}")
print(" ".join(sys.argv[3:]), "agree on", len(ref), "steps")
PY
# (Node-shared parameters leave each rank only its parts of the summed
# gradient, so there is no whole gradient to dump.)
if [[ "$case_name" != *node_shared* ]]; then
  parallel_run "${LAST_ARGS[@]}" --steps 1 --dump-grads "$WORK/run_grads"
  python3 "$(pwd)/tests/parity/compare_grads.py" "$WORK/ref_grads" "$WORK/run_grads" --rel-tol 1e-5
fi
