#!/usr/bin/env bash
# Prints the Debian/Ubuntu packages that own the shared libraries BINARY links, one per line: what a runtime image
# (Dockerfile) installs beside a binary built in another stage, whatever the distribution release names them.
#   scripts/runtime-packages.sh /opt/isoformer/bin/isoformer
set -euo pipefail
ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
  # dpkg records a file under one of its names: the linker's path, or the real file behind a symlink
  # (update-alternatives, merged /usr).
  dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || { echo "no package owns $lib" >&2; exit 1; }
done | cut -d: -f1 | sort -u
