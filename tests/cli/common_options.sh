#!/usr/bin/env bash
# common_options.sh ISOFORMER_BINARY
# Options every subcommand shares: `isoformer <cmd> --version` prints what `isoformer --version` prints and exits
# 0, for every command `isoformer --help` lists (so a new command is covered without editing this file); an
# output of '-' (standard output) or a directory ('dir/') is a usage error (exit 2) that names the option and
# writes nothing, for every command that takes an output.
set -uo pipefail
ISO=$(realpath "$1")
DATA=$(cd "$(dirname "$0")/../../test-data" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

want=$("$ISO" --version)
[[ $want =~ ^isoformer\ [0-9]+\.[0-9]+\.[0-9]+ ]] || bad "isoformer --version printed '$want'"
commands=$("$ISO" --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
[ -n "$commands" ] || bad "no command listed by isoformer --help"
for cmd in $commands; do
  got=$("$ISO" "$cmd" --version 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && [ "$got" = "$want" ]; then ok; else bad "isoformer $cmd --version: exit $rc, '$got'"; fi
  # what could not be written to standard output is a failure, not a success (a full disk here)
  if [ -w /dev/full ]; then
    "$ISO" "$cmd" --help >/dev/full 2>"$work/full.err"
    rc=$?
    if [ $rc -ne 0 ] && grep -q "cannot write to standard output" "$work/full.err"; then ok; else
      bad "isoformer $cmd --help >/dev/full: exit $rc, '$(cat "$work/full.err")'"; fi
  fi
  # Every option line of --help ("  -x, --name ..." or "      --name ...") names an option the parser accepts,
  # short form included, and --help and --version are among them. Each is given an argument and nothing else, so
  # the command stops at a usage error; what matters is that it is not "unrecognized"/"invalid"/"unknown".
  help=$("$ISO" "$cmd" --help)
  opts=$(grep -E '^ {2,6}(-[^ -], +)?--[a-z]' <<<"$help" | sed -E 's/^ +(-([^ -]), +)?(--[a-z0-9-]+).*/\3 \2/')
  for o in --help --version; do
    if grep -q "^$o " <<<"$opts"; then ok; else bad "isoformer $cmd --help does not list $o"; fi
  done
  while read -r long short; do
    case $long in --help | --version) continue ;; esac
    for o in $long ${short:+-$short}; do
      err=$(cd "$work" && "$ISO" "$cmd" "$o" x 2>&1 >/dev/null)
      if grep -qiE "unrecognized option|invalid option|unknown (or incomplete )?option" <<<"$err"; then
        bad "isoformer $cmd --help lists $o, which the parser refuses: $err"
      else ok; fi
    done
  done <<<"$opts"
done

# Each command with the inputs it needs before it looks at its output (they are never read: the output check
# comes first), the output option last.
declare -A args=(
  [extract]="--fasta $DATA/genome.fa.gz --gtf $DATA/annotation.gtf --out"
  [predict]="--model $DATA/demo-model --fasta $DATA/genome.fa.gz --gtf $DATA/annotation.gtf --out"
  [quant]="--bam $DATA/rnaseq.bam --gtf $DATA/annotation.gtf --out"
  [eval]="--pred x.tsv --obs y.sf --out"
  [fit]="--embeddings x.tsv --obs y.sf --out"
  [merge]="x.shard1of2 --out"
  [convert]="$DATA/demo-model/model.safetensors"
  [variants]="--model $DATA/demo-model --fasta $DATA/genome.fa.gz --gtf $DATA/annotation.gtf --vcf x.vcf --out"
)
for cmd in "${!args[@]}"; do
  for out in - results/ ''; do
    dir=$work/$cmd-$(printf '%s' "$out" | tr -c 'a-z' '_')
    mkdir -p "$dir"
    err=$(cd "$dir" && "$ISO" $cmd ${args[$cmd]} "$out" 2>&1 >/dev/null)
    rc=$?
    left=$(find "$dir" -mindepth 1 | head -3)
    case "$out" in -) msg='not to standard output' ;; *) msg='not a directory' ;; esac
    if [ $rc -eq 2 ] && [[ $err == *"$msg"* ]] && [ -z "$left" ]; then
      ok
    else
      bad "isoformer $cmd ... '$out': exit $rc (want 2), left '$left', stderr: $err"
    fi
  done
done
# --out in directories that do not exist yet: made for the run, and gone again when it fails (they were left)
printf 'not a GTF line\n' >"$work/bad.gtf"
(cd "$work" && "$ISO" extract --fasta "$DATA/genome.fa.gz" --gtf bad.gtf --out new/deeper/x >/dev/null 2>&1)
rc=$?
if [ $rc -eq 1 ] && [ ! -e "$work/new" ]; then ok; else bad "failed extract into new/deeper/: exit $rc, left $(ls "$work/new" 2>&1)"; fi
(cd "$work" && "$ISO" extract --fasta "$DATA/genome.fa.gz" --gtf "$DATA/annotation.gtf" --chrom-alias "$DATA/chromAlias.txt" \
  --out new/deeper/x >/dev/null 2>&1)
if [ $? -eq 0 ] && [ -s "$work/new/deeper/x.tsv" ]; then ok; else bad "extract into new/deeper/ did not write there"; fi
echo "common options: $pass passed, $fail failed"
[ $fail -eq 0 ]
