#!/usr/bin/env bash
# make-bad-inputs.sh DATA_DIR OUT_DIR: writes malformed fixtures, each derived from the real test data by one
# defect, for the table-driven cases (*.cases) run by malformed.sh.
set -euo pipefail
data=$1 bad=$2
gtf=$data/annotation.gtf
# line 2 is the first exon of uc002xws.2; line 3 its second exon
gzip -c "$gtf" | head -c 600 >"$bad/truncated.gtf.gz"
sed '2s/transcript_id "[^"]*"; //' "$gtf" >"$bad/no_transcript_id.gtf"
sed '3s/\t\.\t-\t\.\t/\t.\t-\t/' "$gtf" >"$bad/eight_columns.gtf"
awk 'BEGIN{FS=OFS="\t"} NR==3{t=$4; $4=$5; $5=t} {print}' "$gtf" >"$bad/start_after_end.gtf"
sed '3s/\t675186\t/\t67x186\t/' "$gtf" >"$bad/non_numeric.gtf"
awk 'BEGIN{FS=OFS="\t"} NR==3{$4=$4-200000} {print}' "$gtf" >"$bad/overlapping_exons.gtf"
sed '3s/\t-\t/\t+\t/' "$gtf" >"$bad/mixed_strand.gtf"
: >"$bad/empty.gtf"
printf '##gff-version 3\n# nothing else\n' >"$bad/header_only.gff3"
sed 's/$/\r/' "$gtf" >"$bad/crlf.gtf"
zcat "$data/genome.fa.gz" | gzip -c >"$bad/plain_gzip.fa.gz"
printf '>20\nACGT\nACGTACGT\nAC\n' >"$bad/ragged.fa"
printf '20 chr20\n' >"$bad/alias_spaces.txt"
printf 'uc002xws.2\nuc_missing.1\n' >"$bad/ids.txt"
printf '# no ids here\n\n' >"$bad/comments_only.txt"
# uc010zzc.2 (lines 114-125) moved past the end of the 1.5 Mb contig, as with a GTF of another assembly
awk 'BEGIN{FS=OFS="\t"} /uc010zzc.2/{$4+=1000000; $5+=1000000} {print}' "$gtf" >"$bad/other_assembly.gtf"
# GFF3 transcript ids that cannot all be told apart: 'Y' is one transcript's ID and another's transcript_id
printf '##gff-version 3\n20\ts\tmRNA\t100\t200\t.\t+\t.\tID=X\n20\ts\texon\t100\t200\t.\t+\t.\tParent=X\n20\ts\tmRNA\t300\t400\t.\t+\t.\tID=Y;transcript_id=X\n20\ts\texon\t300\t400\t.\t+\t.\tParent=Y\n20\ts\tmRNA\t500\t600\t.\t+\t.\tID=Z;transcript_id=Y\n20\ts\texon\t500\t600\t.\t+\t.\tParent=Z\n' >"$bad/dup_ids.gff3"
