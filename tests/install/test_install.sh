#!/usr/bin/env bash
# test_install.sh BUILD_DIR SOURCE_DIR WORK_DIR ISOFORMER_BINARY PYTHON [C_COMPILER [C_FLAGS]]
# The library as a user gets it: `cmake --install` to a fresh prefix; the shared library exports exactly the
# functions the installed headers mark ISO_API and has a versioned SONAME; examples/predict.c compiles with
# `pkg-config --cflags --libs isoformer` against that prefix alone (and with find_package(isoformer) in CMake),
# runs on test-data, and predicts what `isoformer predict` predicts.
set -euo pipefail
build=$1 src=$2 work=$3 iso=$4 python=$5 cc=${6:-cc} cflags=${7:-}
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
lib=$(ls "$prefix"/lib/libisoformer.so.*.*.*)
fail() { echo "FAIL: $*"; exit 1; }

# Exports: the ISO_API declarations of the installed headers, no more and no less.
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[[ $soname =~ ^libisoformer\.so\.[0-9]+$ ]] || fail "SONAME '$soname'"
[ -e "$prefix/lib/$soname" ] || fail "no $soname link"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TWDBRV]$/ {print $3}' | sort >"$work/exported"
cat "$prefix"/include/isoformer/*.h | awk '/^ISO_API$/ {getline; print}' |
  grep -oE '\biso_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u >"$work/declared"
diff "$work/declared" "$work/exported" >"$work/exports.diff" ||
  fail "exported symbols differ from the ISO_API declarations (< declared only, > exported only):
$(head -20 "$work/exports.diff")"
# Every function the public headers declare is marked (a declaration without ISO_API is not exported).
unmarked=$(cat "$prefix"/include/isoformer/*.h |
           awk 'prev != "ISO_API" && /^[A-Za-z_]/ && !/^(ISO_API|static|typedef|extern|struct|enum)/ &&
                /iso_[a-z0-9_]+ *\(/ {print} {prev = $0}')
[ -z "$unmarked" ] || fail "public declarations without ISO_API: $unmarked"

# pkg-config against the prefix alone: headers and library from there, nothing from the source or build tree.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs isoformer)
[[ $flags == *"-I$prefix/include"* || $flags == *"-I${prefix}/lib/pkgconfig/../../include"* ]] ||
  fail "pkg-config --cflags does not point into $prefix: $flags"
"$cc" -std=c11 -Wall -Wextra -Werror $cflags -o "$work/predict" "$src/examples/predict.c" $flags \
  -Wl,-rpath,"$prefix/lib"
# (ldd's whole output first: grep -q leaving early would end ldd by SIGPIPE, a failure under pipefail)
libs=$(ldd "$work/predict")
grep -q "libisoformer.so.* => $prefix/lib/" <<<"$libs" || fail "example not linked to $prefix/lib: $libs"
data=$src/test-data
"$work/predict" "$data/demo-model" "$data/genome.fa.gz" "$data/annotation.gtf" "$data/chromAlias.txt" \
  >"$work/example.tsv"
"$iso" predict --model "$data/demo-model" --fasta "$data/genome.fa.gz" --gtf "$data/annotation.gtf" \
  --chrom-alias "$data/chromAlias.txt" --out "$work/cli" 2>/dev/null
cat >"$work/compare.py" <<'PY'
import csv, math, sys
ex = {r["transcript_id"]: r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t")}
cli = {r["transcript_id"]: r for r in csv.DictReader(open(sys.argv[2]), delimiter="\t")}
assert ex and ex.keys() == cli.keys(), f"transcripts differ: {sorted(ex)} vs {sorted(cli)}"
cols = [c for c in next(iter(ex.values())) if c != "transcript_id"]
assert len(cols) == 30, cols
bad = [(t, c) for t in ex for c in cols
       if not math.isclose(float(ex[t][c]), float(cli[t][c]), rel_tol=1e-5, abs_tol=1e-6)]
assert not bad, f"example and CLI differ at {bad[:5]}"
print(f"example: {len(ex)} transcripts x {len(cols)} outputs, as isoformer predict")
PY
"$python" "$work/compare.py" "$work/example.tsv" "$work/cli.predictions.tsv" || fail "pkg-config example"

# CMake: find_package(isoformer) from the prefix.
cmake -S "$src/examples" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_C_FLAGS="$cflags" >"$work/cmake.log" 2>&1 ||
  fail "find_package(isoformer): $(tail -20 "$work/cmake.log")"
cmake --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 || fail "example build: $(tail -20 "$work/cmake.log")"
"$work/cmake-build/predict" "$data/demo-model" "$data/genome.fa.gz" "$data/annotation.gtf" "$data/chromAlias.txt" \
  >"$work/cmake-example.tsv"
"$python" "$work/compare.py" "$work/cmake-example.tsv" "$work/cli.predictions.tsv" || fail "CMake example"
echo "install: $(wc -l <"$work/exported") exported symbols, SONAME $soname; pkg-config and CMake builds predict"
