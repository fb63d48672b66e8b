#!/usr/bin/env bash
# The Python used by parity tests: Debian's python3 with its PyTorch (python3-torch), plus the independent
# reference implementations from PyPI, pinned: transformers (ESM-2 and its tokenizer) and enformer-pytorch.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python3" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/python3" - <<'PY' 2>/dev/null && exit 0
import transformers, einops, enformer_pytorch, safetensors, WDL, Bio, cmapPy  # noqa: F401
assert transformers.__version__ == "4.40.2"
PY
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps "enformer-pytorch==0.8.10"
