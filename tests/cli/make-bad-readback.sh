#!/usr/bin/env bash
# make-bad-readback.sh DATA_DIR OUT_DIR: fixtures for readback.cases (issue #18), each one defect away from the
# test data: non-finite weights, impossible config sizes, annotations gffread refuses or whose decoded ids no
# output can hold, conflicting aliases, a FASTA changed under its index, duplicate sequence names.
set -euo pipefail
data=$1 bad=$2
model=$data/demo-model
weights=$model/model.safetensors
# One value of a tensor the model uses set to NaN (or +Inf), found through the safetensors header.
poison() { # DIR TENSOR ELEMENT FLOAT32_HEX
  mkdir -p "$bad/$1"; cp "$model/config.json" "$bad/$1/"
  python3 - "$weights" "$bad/$1/model.safetensors" "$2" "$3" "$4" <<'PY'
import json, struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack_from("<Q", raw)[0]
begin = json.loads(raw[8:8 + n])[sys.argv[3]]["data_offsets"][0]
struct.pack_into("<I", raw, 8 + n + begin + 4 * int(sys.argv[4]), int(sys.argv[5], 16))
open(sys.argv[2], "wb").write(bytes(raw))
PY
}
poison nan_weight protein_model.encoder.layer.1.output.dense.weight 5 7fc00000
poison inf_weight protein_model.encoder.layer.1.output.dense.weight 7 7f800000
config() { # DIR SED_EXPRESSION
  mkdir -p "$bad/$1"; cp "$weights" "$bad/$1/"; sed "$2" "$model/config.json" >"$bad/$1/config.json"
}
config huge_dim 's/"enformer_dim": 96/"enformer_dim": 4294967392/'
config negative_dim 's/"esm_hidden_size": 48/"esm_hidden_size": -48/'
config huge_window 's/"dna_window": 4096/"dna_window": 9223372036854775807/'
config bad_eps 's/"nt_layer_norm_eps": 1e-12/"nt_layer_norm_eps": -1e-12/'
gtf=$data/annotation.gtf
# line 2: the closing quote of uc002xws.2's transcript_id lost (gffread: "Error parsing attribute")
sed '2s/transcript_id "uc002xws.2"/transcript_id "uc002xws.2/' "$gtf" >"$bad/open_quote.gtf"
# a GFF3 ID whose escapes decode to a tab, and a gene name with a newline
sed 's/uc002xws\.2/uc002xws%092/g' "$data/annotation.gff3" >"$bad/tab_id.gff3"
printf '##gff-version 3\nchr20\tt\tmRNA\t686972\t687304\t.\t-\t.\tID=t1;gene_name=BC%%0AAS1\nchr20\tt\texon\t686972\t687304\t.\t-\t.\tParent=t1\n' \
  >"$bad/newline_name.gff3"
# one alias naming two sequences
printf '20\tchr20\n21\tchr20\n' >"$bad/alias_twice.txt"
# the FASTA rewrapped (60 -> 70 bases per line) under its index; its sequence name given twice
zcat "$data/genome.fa.gz" >"$bad/rewrapped.fa"
samtools faidx "$bad/rewrapped.fa"
python3 - "$bad/rewrapped.fa" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
seq = "".join(lines[1:])
open(sys.argv[1], "w").write(lines[0] + "\n" + "\n".join(seq[i:i + 70] for i in range(0, len(seq), 70)) + "\n")
PY
{ zcat "$data/genome.fa.gz"; printf '>20\nACGT\n'; } >"$bad/twice.fa"
