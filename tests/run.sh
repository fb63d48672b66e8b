#!/usr/bin/env bash
# The test command: builds isoformer twice (gcc optimised with CUDA when nvcc exists; clang with ASan/UBSan)
# and runs the suite on each, the determinism-sensitive tests also under two other CPUs' OpenBLAS kernels.
#   tests/run.sh            everything (unit, cli, parity, slow)
#   tests/run.sh -L unit    only a label (extra arguments go to ctest)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
# The sanitizer build uses clang, so every commit is also warning-clean under a second compiler.
cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DISOFORMER_SANITIZE=ON \
      -DISOFORMER_CUDA=OFF -DISOFORMER_FUZZ=ON >/dev/null
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests, optimised build (OpenBLAS kernels for $(bash tests/blas-coretypes.sh --current))"
ctest --test-dir build --output-on-failure -j"$jobs" "$@"
# The determinism contract (docs/model.md) again with the GEMM kernels of other CPUs: parity against the
# independent references, and every path that promises identical bytes (packed batches, cache, resume,
# shards + merge, scatter/gather, variants = predict on the edited FASTA).
blas_sensitive='_vs_|^cli_predict$|^cli_predict_resume$|^cli_merge$|^cli_variants$|^pipelines_nf_scatter$|^pipelines_wdl_run$'
for core in $(bash tests/blas-coretypes.sh); do
  echo "== determinism-sensitive tests, optimised build, OpenBLAS kernels for $core"
  OPENBLAS_CORETYPE=$core ctest --test-dir build --output-on-failure -j"$jobs" -R "$blas_sensitive" -LE slow "$@"
done
echo "== tests, ASan/UBSan build (slow tests excluded)"
ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE "slow|bench" "$@"
