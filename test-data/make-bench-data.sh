#!/usr/bin/env bash
# make-bench-data.sh [OUT_DIR]: a larger real set for benchmarks, not committed (default OUT_DIR build-bench-data/,
# git-ignored): all of GRCh37 chr20 (63 Mb, vt-examples) and one transcript per RefSeq gene on chr20 (693 genes,
# subread-data's hg19 SAF: exons merged per gene, so no CDS and no isoforms), with the chromAlias of test-data/.
# Data packages are used where installed, else fetched with `apt-get download`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../build-bench-data}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkg_root() {
  if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; then
    echo /
  else
    (cd "$tmp" && apt-get download -q "$1" >/dev/null 2>&1 && dpkg -x "$1"_*.deb "root-$1") || {
      echo "make-bench-data.sh: cannot get package $1" >&2; exit 1; }
    echo "$tmp/root-$1"
  fi
}
vt=$(pkg_root vt-examples)/usr/share/doc/vt/examples/ref
saf=$(pkg_root subread-data)/usr/share/doc/subread/examples/annotation/hg19_RefSeq_exon.txt.gz
cp "$vt/20.fa.gz" "$vt/20.fa.gz.fai" "$out/"
gzip -dc "$vt/20.fa.gz.gzi.gz" >"$out/20.fa.gz.gzi"
cp "$here/chromAlias.txt" "$out/"
# SAF (GeneID Chr Start End Strand, 1-based) -> GTF exons of one transcript per gene, overlapping exons merged.
zcat "$saf" | awk 'BEGIN{FS=OFS="\t"} $2=="chr20"' | sort -k1,1 -k3,3n |
  awk 'BEGIN{FS=OFS="\t"}
       function flush() { if (g != "") print "chr20", "RefSeq", "exon", s, e, ".", str, ".",
                          "gene_id \"" g "\"; transcript_id \"" g ".merged\";" }
       $1 != g || $3 > e + 1 { flush(); g = $1; s = $3; e = $4; str = $5; next }
       $4 > e { e = $4 }
       END { flush() }' >"$out/chr20_refseq_genes.gtf"
echo "$out: $(cut -f9 "$out/chr20_refseq_genes.gtf" | sort -u | wc -l) genes"
