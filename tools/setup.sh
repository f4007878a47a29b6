#!/usr/bin/env bash
# tools/setup.sh — installs every system package HaiScale needs (idempotent).
#
# Usage: tools/setup.sh            # build + test dependencies
#        tools/setup.sh --peers    # also PyTorch (CPU) and PyPI tokenizers for tools/peers/
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
  python3-matplotlib       # hai sweep fit's plots (tools/plot_sweep.py)
  clang libclang-rt-dev    # libFuzzer, ASan and UBSan for tools/fuzz.sh (fuzz/)
  libpcre2-dev             # tokenizer pre-tokenizer regexes (JIT, Unicode classes)
  libutf8proc-dev          # tokenizer NFC/NFKC normalizers
  fortunes fortunes-min    # real English text corpus (/usr/share/games/fortunes)
)
if [[ "${1:-}" == "--peers" ]]; then
  PACKAGES+=(python3-torch python3-numpy python3-venv python3-pip)
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

# Peers' Python environment (--peers): PyPI `tokenizers` and `safetensors`,
# which Debian does not package, for the tokenizer compatibility test and
# benchmark and the weight-loading peer. It sees the
# system site packages (torch, numpy). Tests look for it at this path.
PEERS_VENV=/opt/haiscale/peers-venv
setup_peers_venv() {
  [[ "${1:-}" == "--peers" ]] || return 0
  if [[ ! -x $PEERS_VENV/bin/python3 ]]; then
    $SUDO mkdir -p "$(dirname "$PEERS_VENV")"
    $SUDO /usr/bin/python3 -m venv --system-site-packages "$PEERS_VENV"
  fi
  if ! "$PEERS_VENV/bin/python3" -c "import tokenizers" 2>/dev/null; then
    $SUDO "$PEERS_VENV/bin/pip" install -q "tokenizers>=0.20"
  fi
  # safetensors: the weight-loading peer (tools/peers/load_weights_torch.py).
  if ! "$PEERS_VENV/bin/python3" -c "import safetensors" 2>/dev/null; then
    $SUDO "$PEERS_VENV/bin/pip" install -q "safetensors>=0.4"
  fi
}

if ((${#missing[@]} == 0)); then
  select_openblas_openmp
  setup_peers_venv "${1:-}"
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
select_openblas_openmp
setup_peers_venv "${1:-}"
echo "setup: done"
