#!/usr/bin/env bash
# tools/test.sh — installs what is missing, then runs every test:
# `bazel test //...` covers the unit tests and the multi-rank tests (sh_test
# targets that start `mpirun -np N`). With nvcc present (CUDA toolkit at
# /usr/local/cuda) the CUDA backend is compiled too (--config=cuda); its GPU
# tests skip with a visible message on machines without a GPU.
#
# Ends with one line "N passed, N failed, N skipped (no GPU or no peers)" (test targets;
# a test that printed a line "SKIPPED: ..." (no GPU, or no peers' environment) is
# counted as skipped, not passed) and exits non-zero when anything failed or
# did not build.
#
# Usage: tools/test.sh [--asan] [extra bazel test args, e.g. //models/...]
#
# --asan: the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
# (.bazelrc's --config=asan; leak checks on, OpenMPI's own allocations
# suppressed by tools/asan.supp). It keeps its own Bazel output base
# ($HAI_ASAN_OUTPUT_BASE, default ~/.cache/bazel_asan), so switching between the
# two builds rebuilds neither, and it leaves the bazel-* links alone. The CUDA
# backend is not built in this mode.
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed, 0 skipped (no GPU or no peers)"; exit 1; }

# OpenMPI refuses to run as root without these; tests run as several
# processes on one machine.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

BAZEL_ARGS=(--test_env=OMPI_ALLOW_RUN_AS_ROOT=1 --test_env=OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
STARTUP=()
asan=0
if [[ "${1:-}" == "--asan" ]]; then
  asan=1
  shift
  STARTUP=(--output_base="${HAI_ASAN_OUTPUT_BASE:-$HOME/.cache/bazel_asan}")
  # OpenMPI unloads its components at MPI_Finalize, before the leak check
  # runs; keeping them loaded lets tools/asan.supp name their allocations.
  BAZEL_ARGS+=(--config=asan --symlink_prefix=/
               --test_env=ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0
               --test_env=LSAN_OPTIONS=suppressions=$PWD/tools/asan.supp:print_suppressions=0
               --test_env=UBSAN_OPTIONS=print_stacktrace=1
               --test_env=OMPI_MCA_mca_base_component_disable_dlclose=1)
fi
cuda=0
if ((!asan)) && [[ -x /usr/local/cuda/bin/nvcc && -e haiscale/cuda/BUILD ]]; then
  BAZEL_ARGS+=(--config=cuda)
  cuda=1
fi
targets=("$@")
if ((${#targets[@]} == 0 && asan)); then
  # Every top-level package by name: //... would also walk the bazel-* links
  # of the default output base, which this output base does not know.
  for d in */; do
    [[ -L "${d%/}" ]] && continue
    [[ -n "$(find "$d" -name BUILD -print -quit)" ]] && targets+=("//${d%/}/...")
  done
elif ((${#targets[@]} == 0)); then
  targets=(//...)
  # CUDA targets are tagged "manual" (//... never expands them, so machines
  # without nvcc never see them); with nvcc, name their test suites. On a
  # machine without a GPU their tests print "SKIPPED: no CUDA device".
  if ((cuda)); then
    targets+=(//haiscale/cuda:cuda_tests //models/kernels/cuda:cuda_tests //parallel/nccl:cuda_tests
              //hfreduce/gpu:cuda_tests //models/cuda_model:cuda_tests
              //tools:hai_cuda //hfreduce/gpu:bench_staged)  # binaries: compile check
  fi
fi

log=$(mktemp)
bazel "${STARTUP[@]}" test "${BAZEL_ARGS[@]}" "${targets[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY|FAILED TO BUILD)' "$log")
# A passing target whose log has a line "[name: ]SKIPPED: ..." (no GPU, or no
# peers' environment for a compatibility check) was skipped, not passed.
skipped=0
testlogs=bazel-testlogs  # the last bazel test's logs
if ((asan)); then
  testlogs=$(bazel "${STARTUP[@]}" info "${BAZEL_ARGS[@]}" bazel-testlogs 2>/dev/null)
fi
while read -r target; do
  dir="$testlogs/${target#//}"
  dir="${dir/://}"
  if grep -qsE "(^|: )SKIPPED: " "$dir/test.log"; then
    skipped=$((skipped + 1))
    passed=$((passed - 1))
  fi
done < <(grep -E '^//[^ ]+ +(\(cached\) )?PASSED' "$log" | awk '{print $1}')
# The end of each failed test's log, so a CI run shows why it failed.
while read -r target; do
  dir="$testlogs/${target#//}"
  dir="${dir/://}"
  echo "==== $target: last lines of its test.log"
  tail -n 60 "$dir/test.log" 2>/dev/null | cut -c1-600
done < <(grep -E '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log" | awk '{print $1}')
rm -f "$log"
if [[ $status -ne 0 && $failed -eq 0 ]]; then
  # The build itself failed (no test ran to a verdict).
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped (no GPU or no peers)"
[[ $status -eq 0 && $failed -eq 0 ]]
