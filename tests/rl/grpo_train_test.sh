#!/usr/bin/env bash
# GRPO through `hai train` (objective.type GRPO): the reward metrics reach
# metrics.jsonl; a run stopped at step 3 and resumed gives the same step
# 4-6 losses, gradient norms and rewards as the uninterrupted run (the
# rollouts follow from the seed and the step); the external reward command
# works through the config and its crash is an error naming it; beta > 0
# (the frozen reference in the run directory, KL, resume) and
# num_iterations 2 (resume between two updates of one generation batch);
# settings not supported are refused naming the field.
#
# usage: grpo_train_test.sh   (run by bazel from the workspace root)
set -euo pipefail
case_name=grpo_train
source "$(pwd)/tests/parity/common.sh"
CONFIG="$(pwd)/tests/rl/grpo_tiny.pbtxt"


"$HAI" data make-task addition --digits 2 --train 60 --eval 10 --out "$WORK/task" >/dev/null
"$HAI" data tokenizer-train --in "$WORK/task/corpus.txt" --vocab 258 \
  --special "<｜begin▁of▁sentence｜>" --special "<｜end▁of▁sentence｜>" --out "$WORK/tok.json" >/dev/null
PATHS=(--set "objective.grpo.prompts_path=$WORK/task/sft_train.jsonl"
       --set "objective.grpo.tokenizer_path=$WORK/tok.json")
TRAIN=("$HAI" train --config "$CONFIG" --quiet "${PATHS[@]}")
train() { timeout 300 "${TRAIN[@]}" "$@"; }

train --output-dir "$WORK/whole" --no-resume
train --output-dir "$WORK/split" --no-resume --set train.steps=3
train --output-dir "$WORK/split"  # resumes from step 3

python3 - "$WORK/whole/metrics.jsonl" "$WORK/split/metrics.jsonl" <<'PY'
import json, sys
def rows(path):
    return {r["step"]: r for r in map(json.loads, open(path)) if "reward" in r}
whole, split = rows(sys.argv[1]), rows(sys.argv[2])
assert sorted(whole) == [1, 2, 3, 4, 5, 6], sorted(whole)
for key in ["reward", "reward/correct", "reward/short", "reward/digits", "frac_reward_zero_std",
            "clip_ratio/low", "entropy", "completion_length/mean", "completion_length/max",
            "completion_length/clipped_ratio", "rollout_tokens_per_s", "update_seconds"]:
    assert key in whole[1], key
assert any(whole[s]["grad_norm"] > 0 for s in whole), "no gradient in any step"
for s in (4, 5, 6):
    for key in ("loss", "grad_norm", "reward", "entropy"):
        assert whole[s][key] == split[s][key], (s, key, whole[s][key], split[s][key])
print("resume: steps 4-6 identical")
PY

# The external reward command: every answer starting with "1" scores 1.
cat >"$WORK/reward.sh" <<'SH'
while IFS= read -r l; do case "$l" in *'"completion":"1'*) echo 1;; *) echo 0;; esac; done
SH
echo 'read l; exit 3' >"$WORK/crash.sh"
with_command() {  # with_command SCRIPT OUT: the config with reward "correct" run by SCRIPT
  sed "s|exact_match { field: \"completion\" }|command { command: \"sh $1\" timeout_seconds: 30 }|" \
    "$CONFIG" >"$2"
  grep -q "command {" "$2" || fail "could not write $2"
}
with_command "$WORK/reward.sh" "$WORK/command.pbtxt"
timeout 300 "$HAI" train --config "$WORK/command.pbtxt" --quiet "${PATHS[@]}" \
  --output-dir "$WORK/command" --no-resume --set train.steps=1
grep -q '"reward/correct"' "$WORK/command/metrics.jsonl" || fail "no command reward metric"
with_command "$WORK/crash.sh" "$WORK/crash.pbtxt"
expect_fail "exited with status 3" timeout 300 "$HAI" train --config "$WORK/crash.pbtxt" \
  --quiet "${PATHS[@]}" --output-dir "$WORK/crash" --no-resume --set train.steps=1
grep -qF "reward command correct" <<<"$out" || { echo "$out"; fail "crash error does not name the reward"; }

# Reward "correct" by a command scoring completions that start with a
# letter: a random model's groups differ from step 1 on, so the policy moves.
cat >"$WORK/letter.sh" <<'SH'
while IFS= read -r l; do case "$l" in '{"completion":"'[A-Za-z]*) echo 1;; *) echo 0;; esac; done
SH
with_command "$WORK/letter.sh" "$WORK/letter.pbtxt"
LETTER=("$HAI" train --config "$WORK/letter.pbtxt" --quiet "${PATHS[@]}")
letter() { timeout 300 "${LETTER[@]}" "$@"; }

# beta > 0: the frozen reference is the initial weights (those after one
# step of the default rewards, whose step-1 groups are all equal: gradient
# 0, AdamW moves nothing), kept in the run directory; KL 0 at step 1, then
# positive; a resumed run loads the reference and repeats the losses.
BETA=(--set objective.grpo.beta=0.05)
train --output-dir "$WORK/initial" --no-resume --set train.steps=1
grep -q '"grad_norm": 0,' "$WORK/initial/metrics.jsonl" || fail "step 1 moved the weights"
letter --output-dir "$WORK/beta" --no-resume "${BETA[@]}"
letter --output-dir "$WORK/beta_split" --no-resume "${BETA[@]}" --set train.steps=3
cmp "$WORK/initial/weights/model.safetensors" "$WORK/beta_split/grpo_reference/model.safetensors" \
  || fail "the reference is not the initial weights"
letter --output-dir "$WORK/beta_split" "${BETA[@]}"
cmp "$WORK/initial/weights/model.safetensors" "$WORK/beta/grpo_reference/model.safetensors" \
  || fail "the reference changed"
[[ ! -e "$WORK/whole/grpo_reference" ]] || fail "beta 0 wrote a reference model"
# num_iterations 2: steps 1-2 update on generation batch 0, 3-4 on batch 1,
# ...; the checkpoint after step 3 falls between the two updates of batch
# 1, which the resumed run reads back from grpo_rollouts/.
MU=(--set objective.grpo.num_iterations=2)
letter --output-dir "$WORK/mu" --no-resume "${MU[@]}"
letter --output-dir "$WORK/mu_split" --no-resume "${MU[@]}" --set train.steps=3
letter --output-dir "$WORK/mu_split" "${MU[@]}"
ls "$WORK/mu/grpo_rollouts"
[[ -e "$WORK/mu/grpo_rollouts/generation1.rank0.bin" ]] || fail "batch 1 (checkpoint inside) not kept"
[[ ! -e "$WORK/mu/grpo_rollouts/generation0.rank0.bin" ]] || fail "batch 0 (no checkpoint inside) kept"
letter --output-dir "$WORK/mu_lost" --no-resume "${MU[@]}" --set train.steps=3
rm "$WORK/mu_lost/grpo_rollouts/generation1.rank0.bin"
expect_fail "objective.grpo.num_iterations = 2" "${LETTER[@]}" --output-dir "$WORK/mu_lost" "${MU[@]}"

python3 - "$WORK" <<'PY'
import json, sys
def rows(name):
    return {r["step"]: r for r in map(json.loads, open(f"{sys.argv[1]}/{name}/metrics.jsonl"))}
beta, beta_split, mu, mu_split = (rows(n) for n in ("beta", "beta_split", "mu", "mu_split"))
assert beta[1]["kl"] == 0, beta[1]["kl"]
assert all(beta[s]["kl"] > 0 for s in range(2, 7)), [beta[s]["kl"] for s in beta]
assert beta[1]["grad_norm"] > 0
for s in (4, 5, 6):
    for key in ("loss", "grad_norm", "reward", "entropy", "kl"):
        assert beta[s][key] == beta_split[s][key], ("beta", s, key, beta[s][key], beta_split[s][key])
    for key in ("loss", "grad_norm", "reward", "entropy", "clip_ratio/low", "clip_ratio/high"):
        assert mu[s][key] == mu_split[s][key], ("mu", s, key, mu[s][key], mu_split[s][key])
# Two updates per generation batch: the same rollouts (rewards), the
# second update off-policy (its loss differs from the first's).
for s in (1, 3, 5):
    assert mu[s]["reward"] == mu[s + 1]["reward"] and mu[s]["reward_std"] == mu[s + 1]["reward_std"]
    assert mu[s + 1]["rollout_seconds"] == 0 and mu[s]["rollout_seconds"] > 0
assert any(mu[s]["loss"] != mu[s + 1]["loss"] for s in (1, 3, 5))
print("beta: kl", [round(beta[s]["kl"], 8) for s in sorted(beta)], "; resume identical (beta, mu)")
PY

expect_fail "objective.grpo.num_generations" "${TRAIN[@]}" --output-dir "$WORK/bad" --no-resume \
  --set objective.grpo.num_generations=1
expect_fail "objective.grpo.beta" "${TRAIN[@]}" --output-dir "$WORK/bad" --no-resume \
  --set objective.grpo.beta=-0.1
expect_fail "objective.grpo.num_iterations" "${TRAIN[@]}" --output-dir "$WORK/bad" --no-resume \
  --set objective.grpo.num_iterations=0
expect_fail "parallel.pp" "${TRAIN[@]}" --output-dir "$WORK/bad" --no-resume --set parallel.pp=2
expect_fail "/nonexistent.jsonl" "${TRAIN[@]}" --output-dir "$WORK/bad" --no-resume \
  --set objective.grpo.prompts_path=/nonexistent.jsonl
echo PASS
