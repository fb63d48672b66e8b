#!/usr/bin/env bash
# make-rnaseq.sh: rebuilds test-data/rnaseq.bam(.bai), real human RNA-seq reads aligned to the committed genome
# slice. Reads: the 20,000 read pairs (72 bp, Illumina, ERR127302 of ArrayExpress E-MTAB-1147) shipped by
# Debian's r-bioc-shortread (extdata/E-MTAB-1147/ERR127302_{1,2}_subset.fastq.gz), fetched with
# `apt-get download` when not installed. Aligner: HISAT2 (Debian's hisat2) against genome.fa.gz, so the BAM's
# contig is the FASTA's '20'; coordinate-sorted and indexed with samtools. Only reads from this 1.5 Mb slice
# align (a few dozen, some spliced): the file exists to exercise BAM input on real data, not to quantify.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if dpkg-query -W -f='${Status}' r-bioc-shortread 2>/dev/null | grep -q "install ok installed"; then
  reads=/usr/lib/R/site-library/ShortRead/extdata/E-MTAB-1147
else
  (cd "$tmp" && apt-get download -q r-bioc-shortread >/dev/null 2>&1 && dpkg -x r-bioc-shortread_*.deb root)
  reads=$tmp/root/usr/lib/R/site-library/ShortRead/extdata/E-MTAB-1147
fi
gzip -dc "$here/genome.fa.gz" >"$tmp/slice.fa"
hisat2-build -q "$tmp/slice.fa" "$tmp/slice"
hisat2 -p 2 --no-unal --rg-id ERR127302 --rg SM:ERR127302 -x "$tmp/slice" \
       -1 "$reads/ERR127302_1_subset.fastq.gz" -2 "$reads/ERR127302_2_subset.fastq.gz" 2>"$tmp/hisat2.log" |
  samtools sort -o "$here/rnaseq.bam" -
samtools index "$here/rnaseq.bam"
tail -n 1 "$tmp/hisat2.log"
