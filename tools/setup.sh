#!/usr/bin/env bash
# tools/setup.sh — installs every system package HaiScale needs (idempotent).
#
# Usage: tools/setup.sh            # build + test dependencies
#        tools/setup.sh --peers    # also PyTorch (CPU) for tools/peers/ benchmarks
#
# Only packages that are missing are installed, so a second run is a no-op.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap          # Bazel 4.2.3, builds offline with third_party/ stubs
  g++                      # C++20 compiler
  libabsl-dev              # absl::Status, StatusOr, strings, flags
  libprotobuf-dev          # text-format configs, TensorBoard events
  protobuf-compiler        # protoc for haiscale/config/*.proto
  libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin
  libopenblas-dev libopenblas0-openmp   # CPU GEMM; OpenMP flavour shares our thread pool
  nlohmann-json3-dev       # config.json / safetensors headers
  iproute2                 # network namespaces for HFReduce's TCP tests
  python3                  # test fixtures (independent safetensors writer)
)
if [[ "${1:-}" == "--peers" ]]; then
  PACKAGES+=(python3-torch python3-numpy)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

# OpenBLAS: select the OpenMP build, so BLAS threads and ours share one pool
# (and PyTorch's GEMMs in tools/peers/ use it too).
select_openblas_openmp() {
  local dir=/usr/lib/x86_64-linux-gnu/openblas-openmp
  [[ -e $dir/libopenblas.so.0 ]] || return 0
  $SUDO update-alternatives --set libopenblas.so.0-x86_64-linux-gnu $dir/libopenblas.so.0 >/dev/null 2>&1 || true
  $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu $dir/libblas.so.3 >/dev/null 2>&1 || true
  $SUDO update-alternatives --set liblapack.so.3-x86_64-linux-gnu $dir/liblapack.so.3 >/dev/null 2>&1 || true
}

if ((${#missing[@]} == 0)); then
  select_openblas_openmp
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
select_openblas_openmp
echo "setup: done"
