#!/usr/bin/env bash
# malformed.sh ISOFORMER_BINARY CASES_FILE
# Table-driven bad-input suite (in the manner of htslib's .tst files). Each case line of CASES_FILE is
#   <expected message regex> | <command>
# run with bash in a fresh empty directory $OUT, with $ISO (the binary), $DATA (test-data/) and $BAD (a
# directory of malformed fixtures made by make-bad-inputs.sh). A case passes when the command exits with
# status 1 or 2 (not a crash), its stderr matches the regex, and $OUT holds no file afterwards.
set -uo pipefail
ISO=$(realpath "$1") cases=$2
here=$(cd "$(dirname "$0")" && pwd)
DATA=$(cd "$here/../../test-data" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
BAD=$work/bad
mkdir -p "$BAD"
for maker in "$here"/make-bad-*.sh; do
  bash "$maker" "$DATA" "$BAD" || { echo "cannot make fixtures ($maker)"; exit 1; }
done
export ISO DATA BAD
pass=0 fail=0 n=0
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  n=$((n + 1))
  regex=${line%% | *}
  cmd=${line#* | }
  OUT=$work/out$n
  mkdir -p "$OUT"
  export OUT
  err=$(cd "$OUT" && bash -c "$cmd" 2>&1 >/dev/null)
  rc=$?
  left=$(find "$OUT" -type f | head -3)
  if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then
    echo "FAIL [$n] exit $rc (want 1 or 2): $cmd"; echo "  stderr: $err"; fail=$((fail + 1))
  elif ! grep -Eq -- "$regex" <<<"$err"; then
    echo "FAIL [$n] message does not match /$regex/: $cmd"; echo "  stderr: $err"; fail=$((fail + 1))
  elif [ -n "$left" ]; then
    echo "FAIL [$n] left output behind ($left): $cmd"; fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
done <"$cases"
echo "malformed inputs: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $n -gt 0 ]
