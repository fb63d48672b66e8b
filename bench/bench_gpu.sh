#!/usr/bin/env bash
# GPU benchmark: builds isoformer with the CUDA backend, checks every op against the CPU backend (the gpu tests),
# then times model-sized GEMMs (TFLOP/s) and the other ops (GB/s) at each GEMM precision, CPU for reference.
#   bench/bench_gpu.sh [build-dir]     (default build-gpu; needs nvcc and an NVIDIA GPU)
# CUDA architectures default to 80;90 (A100, H100); set ISOFORMER_CUDA_ARCHITECTURES=89 etc. for others.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DISOFORMER_CUDA=ON \
      -DISOFORMER_CUDA_ARCHITECTURES="${ISOFORMER_CUDA_ARCHITECTURES:-80;90}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target test_backend_ops
bin="$build/tests/unit/test_backend_ops"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
fi
echo "== CUDA vs CPU, every op"
set +e
"$bin"
rc=$?
set -e
if [ "$rc" -eq 77 ]; then
  echo "no CUDA device: nothing to benchmark" >&2
  exit 1
fi
[ "$rc" -eq 0 ] || { echo "CUDA results differ from the CPU backend (see above)" >&2; exit 1; }
for prec in fp32 tf32 bf16; do
  echo "== cuda, $prec"
  "$bin" perf cuda "$prec"
done
echo "== cpu, fp32 (reference)"
"$bin" perf cpu fp32
