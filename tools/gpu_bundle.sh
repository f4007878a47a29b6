#!/usr/bin/env bash
# tools/gpu_bundle.sh — builds the CUDA backend here (nvcc, no GPU needed)
# and collects everything a lent GPU machine needs to run it into one
# folder, gpu_bundle/ (the GPU machine has no Bazel, no Debian
# packages and no network):
#   gpu_bundle/bin/   the CUDA test binaries (runtime + every kernel parity
#                     test), `hai_cuda` (hai + `bench kernels`, `bench train-cuda`)
#   gpu_bundle/lib/   every shared library they load (from ldd) that a bare
#                     CUDA machine may lack: abseil, protobuf, OpenBLAS,
#                     OpenMPI (+ its MCA plugins in lib/openmpi), libgomp,
#                     libstdc++, libgcc_s, cudart, Bazel's own _solib libs.
#                     Left out: glibc (libc, libm, libdl, libpthread, librt,
#                     ld-linux), the driver (libcuda, libnvidia-*) and
#                     cuBLAS (libcublasLt.so.13 is 517 MiB, libcublas 52
#                     MiB): the binaries that link it (NEEDS_CUBLAS) find it
#                     on the GPU machine (gpu_check.sh searches the CUDA
#                     toolkit and pip's nvidia-cublas wheels) or skip.
#   gpu_bundle/gpu_check.sh, gpu_bundle/MANIFEST (build line, files, sizes)
#
# Usage: tools/gpu_bundle.sh
#   Env: HS_BAZEL_STARTUP   startup options (e.g. "--output_base=/tmp/ob")
#        HS_BAZEL_FLAGS     extra build flags (e.g. "--symlink_prefix=/")
# Also writes gpu_bundle.tar.xz (the folder, xz): the device tool carries
# that (carry ["gpu_bundle.tar.xz"]), and on the GPU machine:
#   tar xJf gpu_bundle.tar.xz && gpu_bundle/gpu_check.sh   # writes gpu_bundle/gpu_report.md
set -euo pipefail
cd "$(dirname "$0")/.."

NVCC=/usr/local/cuda/bin/nvcc
[[ -x $NVCC ]] || { echo "gpu_bundle: $NVCC not found (the CUDA toolkit is needed to build)" >&2; exit 1; }

read -r -a STARTUP <<<"${HS_BAZEL_STARTUP:-}"
read -r -a FLAGS <<<"${HS_BAZEL_FLAGS:-}"
FLAGS+=(--config=cuda)

# The binaries that go into the bundle (labels -> bin/<name>).
TESTS=(
  //haiscale/cuda:runtime_test
  //models/kernels/cuda:rms_norm_cuda_test
  //models/kernels/cuda:swiglu_cuda_test
  //models/kernels/cuda:embedding_cuda_test
  //models/kernels/cuda:rope_cuda_test
  //models/kernels/cuda:cross_entropy_cuda_test
  //models/kernels/cuda:adamw_cuda_test
  //models/kernels/cuda:attention_cuda_test
  //models/kernels/cuda:moe_cuda_test
  //models/kernels/cuda:gemm_cuda_test
  //parallel/nccl:nccl_comm_cuda_test
  //hfreduce/gpu:staged_allreduce_cuda_test
  //models/cuda_model:deepseek_v2_cuda_test
)
# Binaries that link cuBLAS(Lt), which the bundle does not carry.
NEEDS_CUBLAS=(gemm_cuda_test deepseek_v2_cuda_test hai_cuda)
# Binaries that link NCCL (libnccl.so.2 is 218 MiB; not bundled either).
NEEDS_NCCL=(nccl_comm_cuda_test)
# hai_cuda = hai + `bench kernels` + `bench train-cuda` (the CUDA-free //tools:hai is not needed there).
BINARIES=("${TESTS[@]}" //tools:hai_cuda //hfreduce/gpu:bench_staged)

echo "gpu_bundle: building ${#BINARIES[@]} targets with --config=cuda (sm_80 + sm_90)"
bazel "${STARTUP[@]}" build "${FLAGS[@]}" "${BINARIES[@]}"
BIN_DIR=$(bazel "${STARTUP[@]}" info "${FLAGS[@]}" bazel-bin 2>/dev/null)

OUT=gpu_bundle
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"

# Libraries a bare CUDA machine is assumed to have: glibc and the driver.
is_base_lib() {
  case "$(basename "$1")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|linux-vdso*) return 0 ;;
    libcuda.so*|libnvidia-*) return 0 ;;
    libcublasLt.so*|libcublas.so*) return 0 ;;  # too big; see NEEDS_CUBLAS
    libnccl.so*) return 0 ;;                      # too big; see NEEDS_NCCL
  esac
  return 1
}

copy_libs_of() {  # copy_libs_of FILE: the ldd closure of FILE into lib/
  local f=$1 lib
  while read -r lib; do
    [[ -n $lib && -e $lib ]] || continue
    is_base_lib "$lib" && continue
    local name; name=$(basename "$lib")
    [[ -e $OUT/lib/$name ]] || cp -L "$lib" "$OUT/lib/$name"
  done < <(ldd "$f" 2>/dev/null | awk '/=> \// {print $3}')
}

for label in "${BINARIES[@]}"; do
  path=${label#//}; path=${path/://}
  name=$(basename "$path")
  cp -L "$BIN_DIR/$path" "$OUT/bin/$name"
  chmod u+w "$OUT/bin/$name"
  copy_libs_of "$BIN_DIR/$path"
done

# OpenMPI loads its components (MCA plugins) with dlopen: ldd cannot see
# them. Carry the plugin folder and their own dependencies.
MPI_PLUGINS=/usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3
if [[ -d $MPI_PLUGINS ]] && ls "$OUT/lib" | grep -q '^libmpi\.so'; then
  mkdir -p "$OUT/lib/openmpi"
  # Left out (and so their libraries): OpenSHMEM components and the
  # InfiniBand/OmniPath/libfabric/UCX transports — a lent single-node GPU
  # machine uses shared memory and TCP, and they would add ~6 MiB of
  # libfabric/UCX/psm libraries. OpenMPI skips absent components.
  for p in "$MPI_PLUGINS"/*.so; do
    case "$(basename "$p")" in
      mca_atomic_*|mca_memheap_*|mca_scoll_*|mca_spml_*|mca_sshmem_*) continue ;;
      *ucx*|*ofi*|*psm*|*openib*|*verbs*|*uct*|*portals*) continue ;;
    esac
    cp -L "$p" "$OUT/lib/openmpi/"
    copy_libs_of "$p"
  done
fi
chmod -R u+w "$OUT"

cp tools/gpu_check.sh "$OUT/gpu_check.sh"
chmod +x "$OUT/gpu_check.sh"
printf '%s\n' "${TESTS[@]##*:}" > "$OUT/TESTS"
printf '%s\n' "${NEEDS_CUBLAS[@]}" > "$OUT/NEEDS_CUBLAS"
printf '%s\n' "${NEEDS_NCCL[@]}" > "$OUT/NEEDS_NCCL"

{
  echo "# HaiScale GPU bundle"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+local changes)')"
  echo "nvcc: $($NVCC --version | tail -1)"
  echo "flags: --config=cuda (-gencode sm_80, sm_90)"
  echo "glibc: $(getconf GNU_LIBC_VERSION | awk '{print $2}')"
  echo "host libraries needed (not bundled): libcublasLt.so.13 libcublas.so.13 for ${NEEDS_CUBLAS[*]}; libnccl.so.2 for ${NEEDS_NCCL[*]}; driver >= 580 (CUDA 13)"
  echo
  (cd "$OUT" && find . -type f ! -name MANIFEST -printf '%s\t%p\n' | sort -k2)
} > "$OUT/MANIFEST"

# What travels to the GPU machine is the working tree plus what is carried,
# 64 MiB in all: carry the folder xz-compressed (OpenBLAS alone is 35 MiB
# unpacked) and unpack it there.
bytes=$(du -sb "$OUT" | cut -f1)
tar -C "$(dirname "$OUT")" -cf - "$(basename "$OUT")" | xz -T0 -6 > "$OUT.tar.xz"
packed=$(stat -c %s "$OUT.tar.xz")
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
limit=$((64 * 1024 * 1024))
printf 'gpu_bundle: %s  %d files  %.1f MiB; %s %.1f MiB + working tree %.1f MiB (limit 64 MiB)\n' \
  "$OUT/" "$(find "$OUT" -type f | wc -l)" "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" \
  "$OUT.tar.xz" "$(awk -v b="$packed" 'BEGIN { print b / 1048576 }')" \
  "$(awk -v b="$tree" 'BEGIN { print b / 1048576 }')"
if ((packed + tree > limit)); then
  echo "gpu_bundle: too large for the device tool" >&2
  exit 1
fi
