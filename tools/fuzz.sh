#!/usr/bin/env bash
# tools/fuzz.sh — builds HaiScale's libFuzzer targets (fuzz/*_fuzzer.cc) with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer, outside Bazel
# (Bazel here builds with gcc), and runs each for a fixed number of
# executions from its seed corpus (fuzz/seeds/<target>/ plus fixtures of the
# repository). See docs/fuzzing.md.
#
# usage: tools/fuzz.sh [--iterations N] [--targets a,b] [--build-only]
#                      [--build-dir DIR] [--max-len BYTES]
#   --iterations N  executions per target (libFuzzer -runs; default 100000)
#   --targets       comma-separated subset (default: every fuzz/*_fuzzer.cc)
#   --build-only    compile and link, run nothing
#   --build-dir     objects, binaries, working corpora and crash artifacts
#                   (default ${HS_FUZZ_DIR:-/tmp/haiscale-fuzz})
# Exit code: 0 no finding, 1 a target crashed/leaked/timed out (its input is
# saved under <build-dir>/artifacts/), 2 usage or build error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ITERATIONS=100000
TARGETS=""
BUILD_ONLY=0
BUILD="${HS_FUZZ_DIR:-/tmp/haiscale-fuzz}"
MAX_LEN=65536
while [[ $# -gt 0 ]]; do
  case "$1" in
    --iterations) ITERATIONS="$2"; shift 2 ;;
    --targets) TARGETS="$2"; shift 2 ;;
    --build-only) BUILD_ONLY=1; shift ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    --max-len) MAX_LEN="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$ITERATIONS" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --iterations must be a number" >&2; exit 2; }

CXX="${HS_FUZZ_CXX:-clang++}"
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (tools/setup.sh installs clang)" >&2; exit 2; }
command -v protoc >/dev/null || { echo "fuzz.sh: protoc not found (tools/setup.sh)" >&2; exit 2; }

# The library sources each target links (the parsers and what they use).
COMMON="haiscale/status.cc haiscale/logging.cc haiscale/io/atomic_file.cc"
CONFIG="$COMMON haiscale/config/config.cc haiscale/config/hf_json.cc haiscale/config/validate.cc GEN/haiscale/config/config.pb.cc"
declare -A SOURCES=(
  [safetensors_header]="$COMMON haiscale/io/safetensors.cc haiscale/dtype.cc"
  [hf_config]="$CONFIG"
  [run_config]="$CONFIG"
  [manifest]="$COMMON haiscale/checkpoint/format.cc haiscale/io/safetensors.cc haiscale/dtype.cc"
  [token_file]="$COMMON data/token_file.cc data/dataset/reader.cc data/dataset/format.cc data/dataset/crc32c.cc"
)
# Extra seeds taken from the repository's fixtures, per target.
declare -A FIXTURES=(
  [run_config]="configs tests/parity tests/torch_parity"
)
LIBS=(-labsl_status -labsl_statusor -labsl_str_format_internal -labsl_strings
      -labsl_strings_internal -labsl_cord -labsl_cord_internal -labsl_cordz_functions
      -labsl_cordz_handle -labsl_cordz_info -labsl_synchronization -labsl_time
      -labsl_time_zone -labsl_int128 -labsl_throw_delegate -labsl_raw_logging_internal
      -labsl_log_severity -labsl_spinlock_wait -labsl_base -labsl_crc32c -labsl_crc_internal
      -labsl_crc_cpu_detect -lprotobuf -lz -lpthread)
# Keep only the absl libraries this system has (their set varies by release).
have_lib() { "$CXX" -print-file-name="lib${1#-l}.so" | grep -q /; }
LINK=()
for l in "${LIBS[@]}"; do have_lib "$l" && LINK+=("$l"); done

SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
CXXFLAGS=(-std=c++20 -O1 -g "${SAN[@]}" -I"$ROOT" -I"$BUILD/gen" -Wno-unused-parameter)

if [[ -z "$TARGETS" ]]; then
  TARGETS=$(cd "$ROOT/fuzz" && ls *_fuzzer.cc | sed 's/_fuzzer\.cc$//' | tr '\n' ',')
fi
IFS=',' read -r -a TARGET_LIST <<<"${TARGETS%,}"

mkdir -p "$BUILD/gen" "$BUILD/obj" "$BUILD/bin" "$BUILD/corpus" "$BUILD/artifacts" "$BUILD/logs"
# Generated protobuf code, regenerated when config.proto changes.
if [[ ! -f "$BUILD/gen/haiscale/config/config.pb.cc" ||
      "$ROOT/haiscale/config/config.proto" -nt "$BUILD/gen/haiscale/config/config.pb.cc" ]]; then
  (cd "$ROOT" && protoc --proto_path=. --cpp_out="$BUILD/gen" haiscale/config/config.proto)
fi

# compile SRC [extra flags]: prints the object; rebuilds when the source or
# any header it included (from the depfile) is newer than the object.
compile() {
  local src="$1"; shift
  local path="${src/#GEN/$BUILD/gen}"
  [[ "$path" == /* ]] || path="$ROOT/$path"
  local obj="$BUILD/obj/$(echo "$src" | tr '/' '_').o"
  local dep="${obj%.o}.d" stale=0
  if [[ ! -f "$obj" || ! -f "$dep" ]]; then
    stale=1
  else
    for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$dep"); do
      if [[ ! -e "$f" || "$f" -nt "$obj" ]]; then stale=1; break; fi
    done
  fi
  if [[ $stale -eq 1 ]]; then
    "$CXX" "${CXXFLAGS[@]}" "$@" -MMD -MF "$dep" -c "$path" -o "$obj" >&2 || return 1
  fi
  echo "$obj"
}

build_target() {  # build_target NAME -> $BUILD/bin/NAME_fuzzer
  local t="$1" objs=() o
  [[ -n "${SOURCES[$t]:-}" ]] || { echo "fuzz.sh: no source list for target $t" >&2; return 1; }
  for src in ${SOURCES[$t]}; do
    o=$(compile "$src" -fsanitize=fuzzer-no-link) || return 1
    objs+=("$o")
  done
  o=$(compile "fuzz/${t}_fuzzer.cc" -fsanitize=fuzzer-no-link) || return 1
  objs+=("$o")
  "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer "${objs[@]}" "${LINK[@]}" -o "$BUILD/bin/${t}_fuzzer"
}

for t in "${TARGET_LIST[@]}"; do
  echo "fuzz.sh: building $t" >&2
  build_target "$t" || { echo "fuzz.sh: building $t failed" >&2; exit 2; }
done
[[ $BUILD_ONLY -eq 1 ]] && { echo "fuzz.sh: built ${TARGET_LIST[*]} in $BUILD/bin"; exit 0; }

status=0
printf '%-20s %12s %8s %10s  %s\n' target executions corpus seconds result
for t in "${TARGET_LIST[@]}"; do
  work="$BUILD/corpus/$t"
  mkdir -p "$work"
  seeds=("$ROOT/fuzz/seeds/$t")
  for d in ${FIXTURES[$t]:-}; do
    mkdir -p "$BUILD/fixtures/$t"
    find "$ROOT/$d" -maxdepth 1 -name '*.pbtxt' -exec cp {} "$BUILD/fixtures/$t/" \;
    seeds+=("$BUILD/fixtures/$t")
  done
  log="$BUILD/logs/$t.log"
  start=$(date +%s)
  set +e
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="print_stacktrace=1" \
    "$BUILD/bin/${t}_fuzzer" -runs="$ITERATIONS" -seed=1 -max_len="$MAX_LEN" -timeout=25 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" \
    "$work" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  size=$(ls "$work" | wc -l)
  if [[ $rc -eq 0 ]]; then
    result="no finding"
  else
    result="FINDING (exit $rc): see $log"
    status=1
  fi
  printf '%-20s %12s %8s %10s  %s\n' "$t" "${execs:-?}" "$size" "$secs" "$result"
done
exit $status
