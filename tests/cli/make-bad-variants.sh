#!/usr/bin/env bash
# make-bad-variants.sh DATA_DIR OUT_DIR: malformed VCFs for variants.cases, each one defect away from a valid
# sites-only VCF on test-data's contig 20.
set -euo pipefail
bad=$2
head='##fileformat=VCFv4.2\n##contig=<ID=20,length=1500000>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n'
rec() { printf '20\t%s\t.\t%s\t%s\t.\tPASS\t.\n' "$@"; }
{ printf "$head"; rec 687400 G T; rec 675250 T A; } >"$bad/unsorted.vcf"
{ printf "$head" | sed 's/^##contig.*/&\n##contig=<ID=21,length=10>/'; rec 675250 T A
  printf '21\t5\t.\tA\tG\t.\tPASS\t.\n'; rec 687400 G T; } >"$bad/two_blocks.vcf"
{ printf "$head"; rec 675250 T A; } >"$bad/sites.vcf"
bgzip -c "$bad/sites.vcf" >"$bad/sites.vcf.gz"
{ printf "$head"; for p in $(seq 10 10 100000); do rec "$p" N A; done; } | bgzip -c >"$bad/long.vcf.gz"
size=$(stat -c %s "$bad/long.vcf.gz")
head -c $((size / 2)) "$bad/long.vcf.gz" >"$bad/truncated.vcf.gz"
printf 'this is not a VCF\n' >"$bad/text.vcf"
{ printf "$head"; printf '20\tabc\t.\tT\tA\t.\tPASS\t.\n'; } >"$bad/bad_pos.vcf"
# a genotype naming an ALT allele the record does not have (bcftools consensus: "Broken VCF, too few alts")
{ printf "$head" | sed 's/^#CHROM.*/##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n&\tFORMAT\tS1/'
  printf '20\t675250\t.\tT\tA\t.\tPASS\t.\tGT\t0|2\n'; } >"$bad/gt_beyond.vcf"
# ALT allele 128 (haplotypes hold allele indices in 8 bits: it was read as a missing allele)
alts=$(for a in A C; do for b in A C G T; do for c in A C G T; do for d in A C G T; do printf 'T%s,' "$a$b$c$d"
      done; done; done; done)
{ printf "$head" | sed 's/^#CHROM.*/##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n&\tFORMAT\tS1/'
  printf '20\t675250\t.\tT\t%s\t.\tPASS\t.\tGT\t0|128\n' "${alts%,}"; } >"$bad/gt_128.vcf"
