#!/usr/bin/env bash
# tools/gpu_check.sh — runs the CUDA backend's tests on a GPU machine from
# the folder tools/gpu_bundle.sh made (it is copied there as
# gpu_bundle/gpu_check.sh), and writes a Markdown report with the GPU's
# name and the date: every kernel's parity test against the CPU reference
# (maxdiff / max relative error per tensor, documented bf16 tolerances),
# the runtime test and `hai bench kernels`. Needs no Bazel, no packages,
# no network: the binaries run with LD_LIBRARY_PATH=<bundle>/lib.
#
# cuBLAS is not in the bundle (libcublasLt.so.13 alone is 517 MiB). The
# binaries in NEEDS_CUBLAS (the GEMM test, the benchmark) take it from this
# machine: $HS_CUBLAS_DIR, the CUDA toolkit, the loader cache, or any
# folder holding libcublasLt.so.13 + libcublas.so.13 (pip's nvidia cu13
# wheels, as PyTorch installs them). Not found: they are reported SKIPPED.
#
# Without a GPU every test prints "SKIPPED: no CUDA device" and exits 0;
# this script then prints one SKIPPED line per test.
#
# Usage (from the repository root the device tool copies):
#   tar xJf gpu_bundle.tar.xz   # the carried archive (tools/gpu_bundle.sh)
#   gpu_bundle/gpu_check.sh                 # report -> docs/gpu_report.md
#   HS_REPORT=/some/file.md gpu_bundle/gpu_check.sh
# The report is also copied to $OUT/gpu_report.md when $OUT is set (the
# device tool brings $OUT back).
# Output: one line per test "<test>: PASSED|FAILED|SKIPPED (<seconds>s)",
# then "N passed, N failed, N skipped"; exit status non-zero on a failure.
set -uo pipefail

BUNDLE=$(cd "$(dirname "$0")" && pwd)
if [[ ! -d $BUNDLE/bin && -d $BUNDLE/../gpu_bundle/bin ]]; then
  BUNDLE=$(cd "$BUNDLE/../gpu_bundle" && pwd)   # run as tools/gpu_check.sh
fi
[[ -d $BUNDLE/bin ]] || { echo "gpu_check: no bundle (run tools/gpu_bundle.sh first)" >&2; exit 1; }
ROOT=$(cd "$BUNDLE/.." && pwd)
REPORT=${HS_REPORT:-}
if [[ -z $REPORT ]]; then
  if [[ -d $ROOT/docs ]]; then REPORT=$ROOT/docs/gpu_report.md; else REPORT=$BUNDLE/gpu_report.md; fi
fi

export LD_LIBRARY_PATH="$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[[ -d $BUNDLE/lib/openmpi ]] && export OMPI_MCA_mca_base_component_path="$BUNDLE/lib/openmpi"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# find_cublas: a folder with libcublasLt.so.13 and libcublas.so.13, or "".
find_cublas() {
  local d f
  for d in ${HS_CUBLAS_DIR:-} /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 \
           /usr/lib/x86_64-linux-gnu; do
    [[ -e $d/libcublasLt.so.13 && -e $d/libcublas.so.13 ]] && { echo "$d"; return; }
  done
  f=$(ldconfig -p 2>/dev/null | awk '/libcublasLt\.so\.13 /{print $NF; exit}')
  [[ -n $f && -e $(dirname "$f")/libcublas.so.13 ]] && { dirname "$f"; return; }
  f=$(timeout 60 find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
        -name libcublasLt.so.13 -print -quit 2>/dev/null)
  [[ -n $f && -e $(dirname "$f")/libcublas.so.13 ]] && dirname "$f"
}
needs_cublas=" $(cat "$BUNDLE/NEEDS_CUBLAS" 2>/dev/null | tr '\n' ' ') "
cublas_dir=$(find_cublas)
if [[ -n $cublas_dir ]]; then
  # After the bundle's own libraries, so its cudart stays first.
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$cublas_dir"
  echo "gpu_check: cuBLAS from $cublas_dir"
else
  echo "gpu_check: libcublasLt.so.13 not found on this machine (set HS_CUBLAS_DIR);${needs_cublas}will be SKIPPED"
fi

# NCCL likewise (libnccl.so.2, 218 MiB): $HS_NCCL_DIR, the toolkit, the
# loader cache, or anywhere (PyTorch's pip wheel nvidia/nccl/lib).
find_nccl() {
  local d f
  for d in ${HS_NCCL_DIR:-} /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu; do
    [[ -e $d/libnccl.so.2 ]] && { echo "$d"; return; }
  done
  f=$(ldconfig -p 2>/dev/null | awk '/libnccl\.so\.2 /{print $NF; exit}')
  [[ -n $f ]] && { dirname "$f"; return; }
  f=$(timeout 60 find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
        -name libnccl.so.2 -print -quit 2>/dev/null)
  [[ -n $f ]] && dirname "$f"
}
needs_nccl=" $(cat "$BUNDLE/NEEDS_NCCL" 2>/dev/null | tr '\n' ' ') "
nccl_dir=$(find_nccl)
if [[ -n $nccl_dir ]]; then
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$nccl_dir"
  echo "gpu_check: NCCL from $nccl_dir"
else
  echo "gpu_check: libnccl.so.2 not found on this machine (set HS_NCCL_DIR);${needs_nccl}will be SKIPPED"
fi

gpu="none (nvidia-smi not found)"
if command -v nvidia-smi >/dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap \
          --format=csv,noheader 2>/dev/null | head -1)
  [[ -n $gpu ]] || gpu="none (nvidia-smi found no GPU)"
fi
date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# The bundle carries no glibc: the host's must be at least the build's.
need=$(sed -n 's/^glibc: //p' "$BUNDLE/MANIFEST" 2>/dev/null)
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
if [[ -n $need && -n $have ]] && [[ $(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1) != "$need" ]]; then
  echo "gpu_check: WARNING: host glibc $have is older than the build's $need; binaries may fail to load" >&2
fi

mapfile -t tests < <(if [[ -f $BUNDLE/TESTS ]]; then cat "$BUNDLE/TESTS"; else ls "$BUNDLE/bin" | grep '_test$'; fi)

logdir=$(mktemp -d)
passed=0 failed=0 skipped=0
declare -A verdict secs
for t in "${tests[@]}"; do
  start=$(date +%s.%N)
  if [[ ! -x $BUNDLE/bin/$t ]]; then
    echo "missing binary $BUNDLE/bin/$t" > "$logdir/$t.log"; rc=127
  elif [[ -z $cublas_dir && $needs_cublas == *" $t "* ]]; then
    echo "$t: SKIPPED: libcublasLt.so.13 not found on this machine (not bundled; set HS_CUBLAS_DIR)" > "$logdir/$t.log"; rc=0
  elif [[ -z $nccl_dir && $needs_nccl == *" $t "* ]]; then
    echo "$t: SKIPPED: libnccl.so.2 not found on this machine (not bundled; set HS_NCCL_DIR)" > "$logdir/$t.log"; rc=0
  else
    timeout 600 "$BUNDLE/bin/$t" > "$logdir/$t.log" 2>&1; rc=$?
  fi
  secs[$t]=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if ((rc == 0)) && grep -q 'SKIPPED' "$logdir/$t.log" && ! grep -qE '(^|: )PASSED$|\[  PASSED  \]' "$logdir/$t.log"; then
    verdict[$t]=SKIPPED; ((skipped++))
  elif ((rc == 0)); then
    verdict[$t]=PASSED; ((passed++))
    grep -q 'SKIPPED' "$logdir/$t.log" && verdict[$t]="PASSED (parts SKIPPED: no CUDA device)"
  else
    verdict[$t]="FAILED (exit $rc)"; ((failed++))
  fi
  echo "$t: ${verdict[$t]} (${secs[$t]}s)"
done
echo "$passed passed, $failed failed, $skipped skipped"

# `hai bench kernels` (hai_cuda): informational, its exit status does not
# fail the check.
bench="not run (no hai_cuda binary)"
HAI=$BUNDLE/bin/hai_cuda
if [[ -x $HAI ]]; then
  if [[ -z $cublas_dir ]]; then
    bench="SKIPPED: libcublasLt.so.13 not found"
    echo "$bench" > "$logdir/bench_kernels.log"
  else
    timeout 600 "$HAI" bench kernels > "$logdir/bench_kernels.log" 2>&1
    rc=$?
    bench="exit $rc"
    ((rc == 0)) && grep -q SKIPPED "$logdir/bench_kernels.log" && bench="SKIPPED (no CUDA device)"
    ((rc == 0)) && [[ $bench == "exit 0" ]] && bench="done"
  fi
  echo "bench kernels: $bench"
fi

# Training on the GPU (models/cuda_model): configs/bench/small.pbtxt against
# the CPU loss curve on the same batches (this one counts: a loss outside
# the bf16 tolerance fails the check), then the throughput benchmark.
train_cmp="not run"
train_bench="not run"
CONFIG_DIR=$ROOT/configs
if [[ -x $HAI && -n $cublas_dir && -f $CONFIG_DIR/bench/small.pbtxt ]]; then
  (cd "$ROOT" && timeout 900 "$HAI" bench train-cuda --config configs/bench/small.pbtxt \
     --compare-cpu 20 --loss-csv "$logdir/loss_curve.csv") > "$logdir/train_cuda_compare.log" 2>&1
  rc=$?
  train_cmp=$(grep -E '^compare-cpu:' "$logdir/train_cuda_compare.log" | tail -1)
  [[ -n $train_cmp ]] || train_cmp="exit $rc"
  if ((rc != 0)); then ((failed++)); train_cmp="FAILED: $train_cmp"; fi
  grep -q SKIPPED "$logdir/train_cuda_compare.log" && train_cmp="SKIPPED (no CUDA device)"
  [[ -n ${OUT:-} && -d ${OUT:-} && -f $logdir/loss_curve.csv ]] && cp "$logdir/loss_curve.csv" "$OUT/"
  # The PyTorch eager peer on the same GPU (bf16 autocast, SDPA, fused
  # AdamW), for the tokens/s ratio; informational.
  torch_tps=0
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    (cd "$ROOT" && timeout 900 python3 tools/peers/deepseek_v2_torch.py \
       --config configs/bench/small.pbtxt --device cuda --steps 20 --warmup 3 --json) \
       > "$logdir/torch_train.log" 2>&1
    torch_tps=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    if l.startswith("{"): print(json.loads(l)["tokens_per_s"])' "$logdir/torch_train.log" 2>/dev/null | tail -1)
    [[ -n $torch_tps ]] || torch_tps=0
  fi
  (cd "$ROOT" && timeout 600 "$HAI" bench train --device cuda --config configs/bench/small.pbtxt \
     --steps 20 --warmup 3 --torch-tokens-per-s "$torch_tps") > "$logdir/train_cuda_bench.log" 2>&1
  train_bench="exit $?"
  # `hai train --device cuda` end to end: quickstart corpus, 40 steps, a
  # checkpoint at step 20; the loss must fall (this one counts).
  (cd "$ROOT" && "$HAI" data write-corpus --out "$logdir/corpus.bin" >/dev/null &&
     timeout 900 "$HAI" train --config configs/quickstart.pbtxt --device cuda --steps 40 \
       --data "$logdir/corpus.bin" --output-dir "$logdir/gpu_run" --set train.save_every=20 \
       --set train.eval_every=0 --no-resume) > "$logdir/train_device_cuda.log" 2>&1
  rc=$?
  train_run=$(grep -E '^loss .* over' "$logdir/train_device_cuda.log" | tail -1)
  if ((rc != 0)) || ! python3 -c 'import sys
a, b = sys.argv[1].split()[1], sys.argv[1].split()[3]
sys.exit(0 if float(b) < float(a) else 1)' "${train_run:-loss 0 -> 0 over}"; then
    ((failed++)); train_run="FAILED (exit $rc): $train_run"
  fi
fi
echo "hai train --device cuda: ${train_run:-not run}"

# Attention against PyTorch's scaled_dot_product_attention on the shapes of
# `hai bench kernels` (B=1 T=4096 H=16, 192/128); informational.
sdpa="not run"
if [[ -f $logdir/bench_kernels.log ]] && python3 -c 'import torch' 2>/dev/null; then
  (cd "$ROOT" && timeout 600 python3 tools/peers/attention_sdpa.py --batch 1 --seq 4096 \
     --heads 16 --json) > "$logdir/attention_sdpa.log" 2>&1
  sdpa="exit $?"
fi
echo "train-cuda vs CPU: $train_cmp"
echo "bench train-cuda: $train_bench"

# HFReduce's GPU path (hfreduce/gpu/bench_staged): staged device buffers
# against registered host buffers; informational like bench kernels.
staged="not run (no bench_staged binary)"
if [[ -x $BUNDLE/bin/bench_staged ]]; then
  timeout 600 "$BUNDLE/bin/bench_staged" --max-bytes 256M --iters 5 > "$logdir/bench_staged.log" 2>&1
  rc=$?
  staged="exit $rc"
  ((rc == 0)) && staged="done"
  echo "bench staged allreduce: $staged"
fi

{
  echo "# GPU report"
  echo
  echo "- GPU: $gpu"
  echo "- date: $date_utc"
  echo "- host: $(hostname), glibc ${have:-unknown}"
  [[ -f $BUNDLE/MANIFEST ]] && sed -n '2,7p' "$BUNDLE/MANIFEST" | sed 's/^/- /'
  echo "- cuBLAS: ${cublas_dir:-not found (tests that need it SKIPPED)}"
  echo "- NCCL: ${nccl_dir:-not found (tests that need it SKIPPED)}"
  echo "- result: $passed passed, $failed failed, $skipped skipped"
  echo "- hai train --device cuda (quickstart, 40 steps): ${train_run:-not run}"
  echo "- GPU loss curve vs CPU: $train_cmp"
  echo
  echo "Written by tools/gpu_check.sh. Tolerances are stated in each test's"
  echo "header and in docs/cuda.md; an element passes when"
  echo "|gpu - cpu| <= atol + rtol * |cpu|."
  echo
  echo "| test | result | seconds |"
  echo "|---|---|---|"
  for t in "${tests[@]}"; do echo "| $t | ${verdict[$t]} | ${secs[$t]} |"; done
  for t in "${tests[@]}"; do
    echo
    echo "## $t"
    echo
    echo '```'
    grep -vE '^\[ *(RUN|OK) *\]|^$' "$logdir/$t.log" | tail -n 80
    echo '```'
  done
  if [[ -f $logdir/bench_kernels.log ]]; then
    echo
    echo "## hai bench kernels ($bench)"
    echo
    echo '```'
    tail -n 60 "$logdir/bench_kernels.log"
    echo '```'
  fi
  for f in train_cuda_compare train_cuda_bench; do
    [[ -f $logdir/$f.log ]] || continue
    echo
    echo "## hai bench train-cuda ($f: $([[ $f == train_cuda_compare ]] && echo "$train_cmp" || echo "$train_bench"))"
    echo
    echo '```'
    tail -n 60 "$logdir/$f.log"
    echo '```'
  done
  if [[ -f $logdir/attention_sdpa.log ]]; then
    echo
    echo "## Attention vs PyTorch SDPA ($sdpa)"
    echo
    python3 - "$logdir/bench_kernels.log" "$logdir/attention_sdpa.log" <<'PY'
import json, sys
ours = {}
for line in open(sys.argv[1]):
    cols = [c.strip() for c in line.split("|")]
    if len(cols) > 2 and cols[0].startswith("attention"):
        ours["fwd" if "fwd" in cols[0] else "bwd"] = float(cols[2])
print("| pass | haiscale ms | " + " | ".join(["torch variant ms", "torch / haiscale"]) + " |")
print("|---|---|---|---|")
for line in open(sys.argv[2]):
    if not line.startswith("{"):
        print(line.rstrip())
        continue
    r = json.loads(line)
    if "error" in r:
        print("| %s | | failed: %s | |" % (r["variant"], r["error"]))
        continue
    for p in ("fwd", "bwd"):
        if p in ours:
            t = r[p + "_ms"]
            print("| %s | %.3f | %s %.3f | %.2fx |" % (p, ours[p], r["variant"], t, t / ours[p]))
PY
  fi
  for f in torch_train train_device_cuda; do
    [[ -f $logdir/$f.log ]] || continue
    echo
    echo "## $f"
    echo
    echo '```'
    tail -n 30 "$logdir/$f.log"
    echo '```'
  done
  if [[ -f $logdir/bench_staged.log ]]; then
    echo
    echo "## HFReduce GPU path: bench_staged ($staged)"
    echo
    echo '```'
    tail -n 40 "$logdir/bench_staged.log"
    echo '```'
  fi
} > "$REPORT"
echo "report: $REPORT"
if [[ -n ${OUT:-} && -d ${OUT:-} ]]; then cp "$REPORT" "$OUT/gpu_report.md"; fi
rm -rf "$logdir"
((failed == 0))
