# tests/parity/common.sh — sourced by the multi-rank end-to-end tests
# (tests/parity/parity_test.sh, tests/checkpoint/resume_test.sh).
#
# Expects $case_name; sets HAI, CONFIG, COMPARE, WORK (a fresh folder with
# corpus.bin, a 40 KB built-in corpus) and MPIRUN, an mpirun command that
# runs as root, oversubscribes the 2-core machine and keeps OpenMP threads
# from spinning while other ranks need the core; defines fail MESSAGE and
# expect_fail PATTERN CMD... (CMD fails and prints PATTERN).
HAI="$(pwd)/tools/hai"
CONFIG="$(pwd)/tests/parity/tiny.pbtxt"
COMPARE="$(pwd)/tests/parity/compare_metrics.py"
WORK="${TEST_TMPDIR:-$(mktemp -d)}/$case_name"
mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
export OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpirun --oversubscribe --bind-to none -x OMP_WAIT_POLICY)
fail() { echo "FAIL: $*"; exit 1; }
# expect_fail PATTERN CMD...: CMD fails and prints PATTERN.
expect_fail() {
  local pattern="$1"; shift
  set +e
  out=$(timeout 120 "$@" 2>&1)
  local rc=$?
  set -e
  ((rc != 0)) || fail "expected a failure: $*"
  grep -qF -- "$pattern" <<<"$out" || { echo "$out"; fail "output of '$*' lacks: $pattern"; }
}
"$HAI" data write-corpus --out "$WORK/corpus.bin" --bytes 40000 >/dev/null
