#!/bin/bash
# File: tests/hfreduce/run_mpi_test.sh
#
# Runs an MPI test driver under mpirun inside a Bazel sh_test: quiet,
# offline, single machine (shared-memory BTL only), oversubscribed so that
# 8 ranks fit on 2 cores. A hard timeout turns any hang into a failure.
#
# Usage: run_mpi_test.sh <np> <driver> [driver args...]
set -euo pipefail
np="$1"
driver="$2"
shift 2

export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_plm_rsh_agent=false
export OMPI_MCA_orte_tmpdir_base="${TEST_TMPDIR:-/tmp}"
export OMPI_MCA_hwloc_base_binding_policy=none

exec timeout --signal=KILL 150 mpirun --allow-run-as-root --oversubscribe \
  --bind-to none -np "$np" "$driver" "$@"
