#!/usr/bin/env bash
# make-bad-models.sh DATA_DIR OUT_DIR: malformed model directories, checkpoints and side files derived from
# test-data/demo-model by one defect each, for predict.cases.
set -euo pipefail
data=$1 bad=$2
model=$data/demo-model
mk() { mkdir -p "$bad/$1"; cp "$model/config.json" "$bad/$1/"; }
weights=$model/model.safetensors
size=$(stat -c %s "$weights")

mk truncated_weights; head -c $((size / 2)) "$weights" >"$bad/truncated_weights/model.safetensors"
mk no_weights
mk bad_json; cp "$weights" "$bad/bad_json/"; printf '{"enformer_dim": 96,\n "nt_hidden_size": }\n' >"$bad/bad_json/config.json"
mk string_dim; cp "$weights" "$bad/string_dim/"; sed -i 's/"enformer_dim": 96/"enformer_dim": "96"/' "$bad/string_dim/config.json"
mk wrong_dim; cp "$weights" "$bad/wrong_dim/"; sed -i 's/"esm_hidden_size": 48/"esm_hidden_size": 64/' "$bad/wrong_dim/config.json"
mk bad_heads; cp "$weights" "$bad/bad_heads/"; sed -i 's/"num_heads_omics_cross_attention": 4/"num_heads_omics_cross_attention": 5/' "$bad/bad_heads/config.json"
mk bad_pool; cp "$weights" "$bad/bad_pool/"; sed -i 's/"pool_window_end": 16/"pool_window_end": 17/' "$bad/bad_pool/config.json"
mk bad_act; cp "$weights" "$bad/bad_act/"; sed -i 's/"head_activation": "silu"/"head_activation": "tanhh"/' "$bad/bad_act/config.json"
mkdir -p "$bad/no_config"; cp "$weights" "$bad/no_config/"
# A safetensors header naming a tensor past the data, and one that is not JSON.
mk bad_header; printf '\x20\x00\x00\x00\x00\x00\x00\x00{"a": {"dtype": "F32", "shape": [}' >"$bad/bad_header/model.safetensors"
mk past_end; hdr='{"x":{"dtype":"F32","shape":[64],"data_offsets":[0,256]}}   '
printf "\\x$(printf %02x ${#hdr})\\x00\\x00\\x00\\x00\\x00\\x00\\x00%s" "$hdr" >"$bad/past_end/model.safetensors"
head -c 16 /dev/zero >>"$bad/past_end/model.safetensors"
# A checkpoint lacking one tensor: the demo weights with the head's output layer renamed.
mk missing_tensor
python3 - "$weights" "$bad/missing_tensor/model.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
hdr["protein_model.encoder.layer.1.output.dense.weigth"] = hdr.pop("protein_model.encoder.layer.1.output.dense.weight")
text = json.dumps(hdr).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
PY
# A torch.save zip cut in half (the central directory is at the end).
mk truncated_bin; head -c 300000 "$weights" | { printf 'PK\003\004'; cat; } >"$bad/truncated_bin/pytorch_model.bin"
printf 'Adipose Tissue\t1.0\n' >"$bad/norm_short.tsv"
printf 'tissue\tmean\tstd\nAdipose Tissue\t1.0\tzero\n' >"$bad/norm_bad.tsv"
printf 'tissue\tmean\tstd\nAdipose Tissue\tnan\t1\n' >"$bad/norm_nan.tsv"
printf '20\tchr20\n20\tchr20b\n' >"$bad/alias_ok.txt"
