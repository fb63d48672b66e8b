#!/usr/bin/env bash
# Parses every Nextflow file under the given directory with Debian's Groovy (parse_nf.groovy). Exit 77 (skipped)
# when Groovy or Java is missing.
set -euo pipefail
dir=$1
command -v groovy >/dev/null || { echo "SKIP groovy not installed (scripts/install-deps.sh installs it)"; exit 77; }
if [ -z "${JAVA_HOME:-}" ] || [ ! -x "$JAVA_HOME/bin/java" ]; then
  java=$(command -v java) || { echo "SKIP no java"; exit 77; }
  JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$java")")")
  export JAVA_HOME
fi
mapfile -t files < <(find "$dir" \( -name '*.nf' -o -name '*.config' -o -name '*.nf.test' \) | sort)
[ ${#files[@]} -gt 0 ] || { echo "no Nextflow files under $dir"; exit 1; }
exec groovy "$(dirname "$0")/parse_nf.groovy" "${files[@]}"
