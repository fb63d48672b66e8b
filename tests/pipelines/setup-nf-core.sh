#!/usr/bin/env bash
# nf-core/tools, pinned, in its own virtual environment (.venv-nfcore: its dependencies are not the test
# environment's), for tests/pipelines/nf_core_lint.py (ctest pipelines_nf_core_lint), which runs offline.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${ISOFORMER_NF_CORE_VENV:-.venv-nfcore}
[ -x "$venv/bin/python3" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python3" -c 'import nf_core, sys; sys.exit(nf_core.__version__ != "4.2.1")' 2>/dev/null && exit 0
"$venv/bin/pip" install -q --disable-pip-version-check "nf-core==4.2.1"
