#!/usr/bin/env bash
# valgrind.sh ISOFORMER_BINARY TEST_DATA WORKDIR: memcheck on a subset of real runs (extract, predict, convert,
# quant with threads, bootstraps and coverage, a failing predict, variants): no invalid access, no definite or indirect
# leak.
set -euo pipefail
iso=$1 data=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
supp=$(cd "$(dirname "$0")/.." && pwd)/valgrind.supp
# --trace-children: isoformer re-executes itself where OpenBLAS does not know the CPU (iso_backend_cpu_blas_reexec)
vg=(valgrind -q --trace-children=yes --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --suppressions="$supp")
common=(--fasta "$data/genome.fa.gz" --gtf "$data/annotation.gtf" --chrom-alias "$data/chromAlias.txt")
"${vg[@]}" "$iso" extract "${common[@]}" --window 4096 --out "$work/x"
"${vg[@]}" "$iso" predict "${common[@]}" --model "$data/demo-model" --device cpu --threads 1 \
           --transcripts uc010zza.1,uc002xws.2 --embeddings --out "$work/p"
"${vg[@]}" "$iso" convert "$data/demo-model/model.safetensors" "$work/m.safetensors"
mkdir -p "$work/q"
"${vg[@]}" "$iso" quant --bam "$data/simulated.bam" --gtf "$data/annotation.gtf" --chrom-alias "$data/chromAlias.txt" \
           --threads 2 --num-bootstraps 2 --coverage --out "$work/q/q"
# A failure half-way (a window Enformer cannot take) must free everything too.
rc=0
"${vg[@]}" "$iso" predict "${common[@]}" --model "$data/demo-model" --device cpu --window 1000 --out "$work/f" \
  2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || { echo "failing predict under valgrind exited $rc, expected 1"; exit 1; }
# variants: the real records by distance, and alleles through every path (promoter, exon with CDS, symbolic),
# per allele and per haplotype.
printf '##fileformat=VCFv4.2\n##contig=<ID=20,length=1500000>\n##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n20\t675250\t.\tT\tA,<DEL>\t.\t.\t.\tGT\t1|0\n20\t687400\t.\tG\tGTT\t.\t.\t.\tGT\t0|1\n' >"$work/v.vcf"
"${vg[@]}" "$iso" variants "${common[@]}" --model "$data/demo-model" --device cpu --threads 1 \
           --vcf "$data/vt-chr20.vcf" --max-distance 200000 --out "$work/v1"
"${vg[@]}" "$iso" variants "${common[@]}" --model "$data/demo-model" --device cpu --threads 1 \
           --transcripts uc002xws.2 --vcf "$work/v.vcf" --out "$work/v2"
"${vg[@]}" "$iso" variants "${common[@]}" --model "$data/demo-model" --device cpu --threads 1 \
           --transcripts uc002xws.2 --vcf "$work/v.vcf" --haplotypes --out "$work/v3"
echo "valgrind: 8 runs clean"
