#!/usr/bin/env bash
# make-simulated.sh ISOFORMER_BINARY: rebuilds test-data/simulated.bam(.bai) and simulated.truth.tsv, 4,000
# read pairs simulated from the 7 BCAS1 isoforms of annotation.gtf on genome.fa.gz (random log-normal
# abundances, one isoform unexpressed; wgsim 2 x 72 bp, fragments 250 +- 25) and aligned back to the slice by
# HISAT2, by tests/cli/simulate_rnaseq.py with seed 5. So quant, eval and fit can be tried on the bundled data
# (the real reads of rnaseq.bam miss BCAS1). The truth: transcript_id, true TPM, pairs drawn. PYTHON names a
# python3 with numpy (default python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
iso=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3}" "$here/../tests/cli/simulate_rnaseq.py" "$iso" "$here" "$tmp" 4000 5
# the read group says what the reads are; the header keeps no temporary path
samtools addreplacerg -r 'ID:sim' -r 'SM:simulated-BCAS1' -o "$tmp/rg.bam" "$tmp/sim.bam"
samtools view -h "$tmp/rg.bam" | grep -v '^@PG' | samtools view -b -o "$here/simulated.bam" -
samtools index "$here/simulated.bam"
cp "$tmp/truth.tsv" "$here/simulated.truth.tsv"
