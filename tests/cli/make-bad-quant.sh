#!/usr/bin/env bash
# make-bad-quant.sh DATA_DIR OUT_DIR: malformed BAMs and expression tables for quant.cases, each one defect away
# from test-data/rnaseq.bam or a valid table.
set -euo pipefail
data=$1 bad=$2
bam=$data/rnaseq.bam
samtools sort -n -o "$bad/byname.bam" "$bam" 2>/dev/null
cp "$bam" "$bad/noindex.bam"
size=$(stat -c %s "$bam")
head -c $((size - 100)) "$bam" >"$bad/truncated.bam"
cp "$bam.bai" "$bad/truncated.bam.bai"
# cut where htslib sees no damage (its index kept): without the BGZF end-of-file block, and at a block boundary
sim=$data/simulated.bam
head -c $(($(stat -c %s "$sim") - 28)) "$sim" >"$bad/cut_eof.bam"
python3 - "$sim" "$bad/cut_half.bam" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
ends, at = [], 0
while at < len(data):  # each BGZF block: its size less one at byte 16
    at += struct.unpack_from("<H", data, at + 16)[0] + 1
    ends.append(at)
open(sys.argv[2], "wb").write(data[:ends[len(ends) // 2]])
PY
cp "$sim.bai" "$bad/cut_eof.bam.bai"
cp "$sim.bai" "$bad/cut_half.bam.bai"
samtools view -h "$bam" | sed 's/SN:20\t/SN:chrX\t/; s/\t20\t/\tchrX\t/; s/\t=\t/\t=\t/' |
  samtools view -b -o "$bad/other_contig.bam" - 2>/dev/null && samtools index "$bad/other_contig.bam"
printf 'not a bam at all\n' >"$bad/text.bam"
# sorted SAM without an index: plain and gzip'd cannot be indexed (samtools refuses them), BGZF'd can
samtools view -h -o "$bad/plain.sam" "$bam"
gzip -c "$bad/plain.sam" >"$bad/gzipped.sam.gz"
bgzip -c "$bad/plain.sam" >"$bad/bgzf.sam.gz"
samtools view -H -b -o "$bad/empty.bam" "$sim" && samtools index "$bad/empty.bam" # header only
hdr='Name\tLength\tEffectiveLength\tTPM\tNumReads'
printf "$hdr\nuc002xws.2\t3475\t3226\tlots\t10\n" >"$bad/bad_number.sf"
printf "$hdr\nENST00000000001\t3475\t3226\t1.0\t10\n" >"$bad/alien_ids.sf"
printf "$hdr\nuc002xws.2\t3475\t3226\n" >"$bad/short_row.sf"
printf "$hdr\nuc002xws.2\t3475\t3226\t1.0\t10\nuc002xws\t3475\t3226\t2.0\t20\n" >"$bad/duplicate.sf"
printf 'gene\tvalue\nuc002xws.2\t1\n' >"$bad/unknown_header.tsv"
printf '#1.2\n1\t1\nName\tDesc\tS1\nuc002xws.2\tx\t1\n' >"$bad/gct_header.gct"
printf 'chr20\tStringTie\ttranscript\t1\t100\t1000\t-\t.\tgene_id "8537"; transcript_id "uc002xws.2"; FPKM "1";\n' \
  >"$bad/no_tpm.gtf"
: >"$bad/empty.sf"
printf "$hdr\nuc002xws.2\t3475\t3226\tnan\t10\n" >"$bad/nan_tpm.sf"
printf "$hdr\nuc002xws.2\t3475\t3226\t-1\t10\n" >"$bad/negative_tpm.sf"
printf "$hdr\nuc002xws.2\t3475\t3226\tinf\t10\n" >"$bad/inf_tpm.sf"
printf "$hdr\nuc002xws.2\t3475\t3226\t1e308\t10\n" >"$bad/huge_tpm.sf"
ctab='t_id\tchr\tstrand\tstart\tend\tt_name\tnum_exons\tlength\tgene_id\tgene_name\tcov\tFPKM'
printf "$ctab\n1\tchr20\t-\t1\t100\tuc002xws.2\t2\t3475\t8537\tBCAS1\t1.0\tNaN\n" >"$bad/nan_fpkm.ctab"
emb='transcript_id\tgene_id\tgene_name\tchrom\tstart\tend\tstrand\te0\te1'
printf "$hdr\nuc002xws.2\t3475\t3226\t1.0\t10\n" >"$bad/good.sf"
printf "$emb\nuc002xws.2\t8537\tBCAS1\tchr20\t0\t100\t-\t0.5\tnan\n" >"$bad/nan_embedding.tsv"
# A CRAM whose reference (named in its header by a path that no longer exists) is gone.
gzip -dc "$data/genome.fa.gz" >"$bad/gone.fa"
samtools view -C -T "$bad/gone.fa" -o "$bad/sim.cram" "$data/simulated.bam" && samtools index "$bad/sim.cram"
rm -f "$bad/gone.fa" "$bad/gone.fa.fai"
