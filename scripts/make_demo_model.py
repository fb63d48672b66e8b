#!/usr/bin/env python3
"""Writes the demo model of the README's main job: the IsoFormer architecture (Enformer trunk with 7
downsamplings, NT-v2 and ESM-2 style encoders, cross-attention fusion, 30-tissue head) at reduced width, with
random weights from a fixed seed. Its predictions are NOT biology; it exists so the pipeline runs end to end on
the bundled data. Point --model at the real InstaDeepAI/isoformer files for real predictions.

Usage: make_demo_model.py OUTDIR    (needs torch, transformers, enformer-pytorch, safetensors: tests/setup-python.sh)
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "parity"))
import refmodels as rm  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(20241210)
enformer = rm.make_enformer(dim=96, depth=2, heads=2, attn_dim_key=16, num_downsamples=7, dim_divisible_by=8,
                            target_length=16)
nt = rm.make_nt(hidden=64, layers=2, heads=4, inter=128)
esm = rm.make_esm(hidden=48, layers=2, heads=4, inter=96)
model = rm.RefIsoformer(enformer, nt, esm, heads=4, head_hidden=384, n_out=30)
window = 128 * 32  # 32 positions after the 7 poolings, cropped to the central 16
state = {k: v.contiguous() for k, v in model.state_dict().items() if not k.startswith("dna_model._trunk.")}
save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
config = model.config(window)
config.update(model_type="isoformer", demo="random weights, reduced width: not biology")
rm.write_config(os.path.join(out, "config.json"), config)
print(f"wrote {out}: {sum(v.numel() for v in state.values())} parameters, DNA window {window} bp")
