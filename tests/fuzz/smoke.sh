#!/usr/bin/env bash
# smoke.sh FUZZER CORPUS_DIR FUZZ_SRC_DIR SECONDS [SEED_GLOB...]
# Replays the committed regressions, then fuzzes for SECONDS from a corpus seeded with the given files.
set -euo pipefail
fuzzer=$1 corpus=$2 src=$3 seconds=$4
shift 4
name=$(basename "$fuzzer")
mkdir -p "$corpus"
for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$corpus/" ; done
for f in "$src/corpus/$name"/*; do [ -f "$f" ] && cp -f "$f" "$corpus/"; done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work
if compgen -G "$src/regressions/$name/*" >/dev/null; then
  "$fuzzer" -runs=0 "$src/regressions/$name"/* 2>&1 | tail -n 3
fi
# -close_fd_mask=3: parsers may log; keep the output readable.
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
          -artifact_prefix="$corpus.crash-" "$corpus" 2>&1 | tail -n 5
