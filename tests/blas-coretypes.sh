#!/usr/bin/env bash
# Prints the OpenBLAS core types (OPENBLAS_CORETYPE values) that tests/run.sh runs the determinism-sensitive
# tests under besides the one it uses here: the first two of Haswell, SkylakeX, Sandybridge, Zen, Nehalem that
# this CPU can execute, that differ from the core used in this environment, and that the installed OpenBLAS
# really switches to (it silently ignores names it does not know). So a test that depends on one CPU's BLAS
# kernels fails here, on any machine, before it fails on another.
#   tests/blas-coretypes.sh --current   prints the core OpenBLAS uses in this environment instead
set -euo pipefail
corename() {
  python3 -c 'import ctypes; b = ctypes.CDLL("libopenblas.so.0"); b.openblas_get_corename.restype = ctypes.c_char_p
print(b.openblas_get_corename().decode())'
}
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
current=$(corename)
if [ "${1:-}" = --current ]; then echo "$current"; exit 0; fi
picked=0
for core in Haswell SkylakeX Sandybridge Zen Nehalem; do
  case $core in
    Haswell|Zen) has avx2 fma || continue ;;
    SkylakeX) has avx512f avx512cd avx512bw avx512dq avx512vl || continue ;;
    Sandybridge) has avx || continue ;;
    Nehalem) has sse4_2 || continue ;;
  esac
  [ "${core,,}" != "${current,,}" ] || continue
  [ "$(OPENBLAS_CORETYPE=$core corename)" = "$core" ] || continue
  echo "$core"
  picked=$((picked + 1))
  [ $picked -lt 2 ] || break
done
