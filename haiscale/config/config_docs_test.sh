#!/bin/bash
# File: haiscale/config/config_docs_test.sh
#
# Fails when docs/configs.md is not what tools/gen_config_docs.py makes of
# haiscale/config/config.proto. Fix with:
#   python3 tools/gen_config_docs.py haiscale/config/config.proto --out docs/configs.md
#
# All three files are data dependencies, found in the test's runfiles.
set -euo pipefail

proto=haiscale/config/config.proto
root=.
for f in "$root/tools/gen_config_docs.py" "$root/docs/configs.md"; do
  if [[ ! -f "$f" ]]; then
    echo "missing $f" >&2
    exit 1
  fi
done

PYTHON=python3
if ! command -v "$PYTHON" >/dev/null 2>&1; then PYTHON=/usr/bin/python3; fi

generated="${TEST_TMPDIR:-/tmp}/configs.md"
"$PYTHON" "$root/tools/gen_config_docs.py" "$proto" --out "$generated"
if ! diff -u "$root/docs/configs.md" "$generated"; then
  echo "docs/configs.md is out of date; regenerate it with:" >&2
  echo "  python3 tools/gen_config_docs.py haiscale/config/config.proto --out docs/configs.md" >&2
  exit 1
fi
echo "docs/configs.md is up to date"
