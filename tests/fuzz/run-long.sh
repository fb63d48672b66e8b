#!/usr/bin/env bash
# run-long.sh [SECONDS_PER_TARGET] [BUILD_DIR] [TARGET...]: the longer fuzz run (default one hour per target;
# every target, or the ones named, e.g. fuzz_cache_entry fuzz_journal fuzz_manifest) on a clang
# build configured with -DISOFORMER_FUZZ=ON -DISOFORMER_SANITIZE=ON (tests/run.sh makes build-asan/ so). Each
# target keeps its growing corpus in BUILD_DIR/fuzz-corpus/<target>; a crash is saved there as crash-*: copy it
# into tests/fuzz/regressions/<target>/ once fixed, so every later smoke run replays it.
set -euo pipefail
seconds=${1:-3600}
build=${2:-build-asan}
shift $(($# < 2 ? $# : 2))
src=$(cd "$(dirname "$0")" && pwd)
for fuzzer in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer")
  [ $# -eq 0 ] || [[ " $* " == *" $name "* ]] || continue
  corpus=$build/fuzz-corpus/$name
  mkdir -p "$corpus"
  cp -n "$src/corpus/$name"/* "$corpus/" 2>/dev/null || true
  echo "== $name for ${seconds}s"
  "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
            -artifact_prefix="$corpus/crash-" "$corpus" 2>&1 | grep -E "^#[0-9]+ +DONE|Done [0-9]+ runs|ERROR" || true
done
