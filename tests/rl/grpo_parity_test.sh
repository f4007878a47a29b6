#!/usr/bin/env bash
# GRPO data- and expert-parallel parity: `mpirun -np N hai train` with objective.type
# GRPO splits each step's prompts over the ranks (every prompt's
# completions on one rank) and gives the same rollouts as one process with
# the same prompts per step and seed: rewards, reward statistics and
# completion lengths identical, per-step losses, entropy, KL, clip ratios
# and gradient norms within 1e-5, and the same first-step gradients.
# Ranks are checked to hold identical parameters after every step.
#
# usage: grpo_parity_test.sh CASE
#   grpo_dp2:        2 ranks, GRPO aggregation, GROUP scaling
#   grpo_dp4_2nodes: 4 ranks as 2 nodes x 2, DAPO aggregation and BATCH
#                    scaling (both need the whole batch's counts), beta > 0
#                    and 2 updates per generation batch
#   grpo_dp4_node_shared: the same with parallel.node_shared_params
#   grpo_ep2:        2 ranks with parallel.ep 2 (each holds half the routed
#                    experts; rollouts decode in lockstep through the expert
#                    all-to-all), beta > 0 (the reference sharded like the
#                    policy) and 2 updates per generation batch; also a run
#                    stopped at step 3 and resumed repeats steps 4-6 exactly
set -euo pipefail
case_name="$1"
source "$(pwd)/tests/parity/common.sh"
# Reward "correct" by an external command (one per rank) that scores a
# completion 1 when it starts with a letter: a random model's completions
# differ within groups from the first step on, so its gradients are not 0.
cat >"$WORK/letter.sh" <<'SH'
while IFS= read -r l; do case "$l" in '{"completion":"'[A-Za-z]*) echo 1;; *) echo 0;; esac; done
SH
CONFIG="$WORK/grpo.pbtxt"
sed "s|exact_match { field: \"completion\" }|command { command: \"sh $WORK/letter.sh\" timeout_seconds: 60 }|" \
  "$(pwd)/tests/rl/grpo_tiny.pbtxt" >"$CONFIG"
grep -q "command {" "$CONFIG" || { echo "FAIL: could not write $CONFIG"; exit 1; }

"$HAI" data make-task addition --digits 2 --train 60 --eval 10 --out "$WORK/task" >/dev/null
"$HAI" data tokenizer-train --in "$WORK/task/corpus.txt" --vocab 258 \
  --special "<｜begin▁of▁sentence｜>" --special "<｜end▁of▁sentence｜>" --out "$WORK/tok.json" >/dev/null
ARGS=(--set "objective.grpo.prompts_path=$WORK/task/sft_train.jsonl"
      --set "objective.grpo.tokenizer_path=$WORK/tok.json"
      --set objective.grpo.prompts_per_step=4 --set train.micro_batch_size=2
      --set train.save_every=0)
case "$case_name" in
  grpo_dp2)        NP=2; EXTRA=() ;;
  grpo_dp4_2nodes) NP=4; EXTRA=(--set parallel.ranks_per_node=2)
                   ARGS+=(--set objective.grpo.loss_type=DAPO --set objective.grpo.scale_rewards=BATCH
                          --set objective.grpo.beta=0.05 --set objective.grpo.num_iterations=2) ;;
  grpo_dp4_node_shared)
                   # The same with one copy of the parameters per node: rollouts
                   # decode from it and the reference is copied from it.
                   NP=4; EXTRA=(--set parallel.ranks_per_node=2 --set parallel.node_shared_params=true)
                   ARGS+=(--set objective.grpo.loss_type=DAPO --set objective.grpo.scale_rewards=BATCH
                          --set objective.grpo.beta=0.05 --set objective.grpo.num_iterations=2) ;;
  grpo_ep2)        NP=2; EXTRA=(--ep 2)
                   # One sequence at a time, each up to the end of the 64-token
                   # context: a rank's decode steps add up its prompts' lengths,
                   # which differ between the ranks, so the one done first keeps
                   # stepping (lockstep) while the other finishes.
                   ARGS+=(--set objective.grpo.num_iterations=2 --set objective.grpo.decode_batch=1
                          --set objective.grpo.beta=0.05
                          --set objective.grpo.max_completion_tokens=60 --set train.seq_len=64) ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac

timeout 300 "$HAI" train --config "$CONFIG" --output-dir "$WORK/ref" --quiet --no-resume \
  --dump-grads "$WORK/ref_grads" "${ARGS[@]}"
parallel_run() {
  timeout 300 "${MPIRUN[@]}" -np "$NP" "$HAI" train --config "$CONFIG" --quiet --no-resume \
    --check-replicas "${ARGS[@]}" "${EXTRA[@]}" "$@"
}
parallel_run --output-dir "$WORK/run"

python3 - "$WORK/ref/metrics.jsonl" "$WORK/run/metrics.jsonl" <<'PY'
import json, sys
ref, run = ([json.loads(l) for l in open(p) if l.strip()] for p in sys.argv[1:3])
assert len(ref) == len(run) == 6, (len(ref), len(run))
exact = [k for k in ref[0] if k.startswith(("reward", "frac_reward", "completion_length"))]
close = ["loss", "grad_norm", "entropy", "clip_ratio/low", "clip_ratio/high"]
close += [k for k in ("kl",) if k in ref[0]]
assert "reward/correct" in exact and "completion_length/mean" in exact, exact
worst = 0.0
for r, x in zip(ref, run):
    for key in exact:
        if r[key] != x[key]:
            sys.exit(f"step {r['step']}: {key} {r[key]!r} (1 process) vs {x[key]!r}")
    for key in close:
        d = abs(r[key] - x[key])
        worst = max(worst, d / max(abs(r[key]), 1.0))
        if d > 1e-5 * max(abs(r[key]), 1.0):
            sys.exit(f"step {r['step']}: {key} {r[key]!r} (1 process) vs {x[key]!r}")
assert ref[0]["grad_norm"] > 0, "no gradient at step 1 (the gradient comparison would be empty)"
print(f"{len(ref)} steps: {', '.join(exact)} identical; {', '.join(close)} within {worst:.2e}")
PY
# (Node-shared parameters leave each rank only its parts of the summed
# gradient, so there is no whole gradient to dump.)
if [[ "$case_name" != *node_shared* ]]; then
  parallel_run --output-dir "$WORK/run1" --steps 1 --dump-grads "$WORK/run_grads"
  python3 "$(pwd)/tests/parity/compare_grads.py" "$WORK/ref_grads" "$WORK/run_grads" --rel-tol 1e-5
fi
if [[ "$case_name" == grpo_ep2 ]]; then
  # Resume between the two updates of generation batch 1: the sharded
  # reference and each rank's rollouts are read back.
  parallel_run --output-dir "$WORK/split" --steps 3 --set train.save_every=3
  ls "$WORK/split/grpo_reference" "$WORK/split/grpo_rollouts"
  timeout 300 "${MPIRUN[@]}" -np "$NP" "$HAI" train --config "$CONFIG" --quiet \
    "${ARGS[@]}" "${EXTRA[@]}" --output-dir "$WORK/split"
  python3 - "$WORK/run/metrics.jsonl" "$WORK/split/metrics.jsonl" <<'PY'
import json, sys
whole, split = ({r["step"]: r for r in map(json.loads, open(p))} for p in sys.argv[1:3])
assert sorted(split) == [1, 2, 3, 4, 5, 6], sorted(split)
for s in (4, 5, 6):
    for key in ("loss", "grad_norm", "reward", "entropy", "kl"):
        assert whole[s][key] == split[s][key], (s, key, whole[s][key], split[s][key])
print("expert parallel resume at step 3: steps 4-6 identical")
PY
fi
echo PASS
