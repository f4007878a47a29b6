#!/usr/bin/env bash
# hai's tokenizer against Hugging Face `tokenizers` (hf_compat_test.py).
# Needs the peers' Python environment with PyPI `tokenizers`
# (tools/setup.sh --peers); without it the test passes with a SKIPPED line.
set -euo pipefail
PY=${HAI_PEERS_PYTHON:-/opt/haiscale/peers-venv/bin/python3}
if [[ ! -x $PY ]] || ! "$PY" -c "import tokenizers" 2>/dev/null; then
  echo "SKIPPED: PyPI tokenizers not found for $PY (install it with tools/setup.sh --peers)"
  exit 0
fi
exec "$PY" data/tokenizer/hf_compat_test.py --hai data/tokenizer/hai_tokenizer \
  --tmp "${TEST_TMPDIR:-$(mktemp -d)}"
