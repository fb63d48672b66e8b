#!/usr/bin/env bash
# The benchmarks' fair PyTorch baseline: the current PyTorch from PyPI (MKL and oneDNN, one OpenMP runtime) in
# its own environment, bench/.venv-torch, apart from the tests' .venv (Debian's PyTorch 1.13, no MKL), plus the
# reference model code the benchmarks build the model with (the same pins as tests/requirements.txt; NumPy 1.x,
# whose fromstring enformer-pytorch 0.8.10 calls).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=bench/.venv-torch
[ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check torch "numpy<2" "transformers==4.40.2" "einops==0.8.0" "polars==1.9.0" "pyfaidx==0.8.1.3" safetensors
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps "enformer-pytorch==0.8.10"
"$venv/bin/python3" -c "import torch; print('bench/.venv-torch: PyTorch', torch.__version__, 'MKL',
torch.backends.mkl.is_available(), 'oneDNN', torch.backends.mkldnn.is_available())"
