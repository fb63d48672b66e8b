#!/usr/bin/env bash
# conda-build's build script (run in the source tree, $PREFIX the host prefix): the CPU backend, or the CUDA one
# under the cuda_compiler_version variant. Warnings are not errors here: the packager's compiler is not ours.
set -euo pipefail
cuda=OFF
if [ "${cuda_compiler_version:-None}" != "None" ]; then
  cuda=ON
fi
# shellcheck disable=SC2086 # CMAKE_ARGS is a list of options (conda-forge's compilers set it)
cmake -S . -B build-recipe ${CMAKE_ARGS:-} \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$PREFIX" \
  -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DISOFORMER_CUDA="$cuda" \
  -DISOFORMER_CUDA_ARCHITECTURES="75;80;86;89;90" \
  -DISOFORMER_TESTS=OFF \
  -DISOFORMER_WERROR=OFF
cmake --build build-recipe -j"${CPU_COUNT:-1}"
cmake --install build-recipe
