#!/usr/bin/env python3
"""Benchmark (not a test): our CPU time per stage vs the PyTorch reference on the same inputs and model, and our
achieved GFLOP/s against this machine's sgemm rate measured in the same run.

  bench/bench_model.py BUILD_DIR [--size full|medium] [--rna N] [--protein N]

full: every real dimension (~700M parameters, 196,608 bp; a few minutes on 2 cores). medium: Enformer at
dim 768 / 4 layers on 49,152 bp, NT-v2 and ESM-2 at their real widths with 6 layers each (about a minute).
Needs the Python references (tests/setup-python.sh)."""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "parity"))
import refmodels as rm  # noqa: E402

sys.path.insert(0, here)
import flops as flops_of  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--size", choices=("full", "medium"), default="medium")
ap.add_argument("--rna", type=int, default=512, help="RNA tokens")
ap.add_argument("--protein", type=int, default=400, help="protein tokens")
args = ap.parse_args()
driver = os.path.join(args.build, "tests", "parity", "model_driver")
torch.manual_seed(0)
torch.set_num_threads(os.cpu_count())

if args.size == "full":
    model, window = rm.make_full_isoformer(), 196608
else:
    from enformer_pytorch import Enformer
    from transformers import EsmModel
    enf = Enformer.from_hparams(dim=768, depth=4, heads=8, attn_dim_key=64, num_downsamples=7, dim_divisible_by=64,
                                target_length=256, use_tf_gamma=False, output_heads=dict(human=8))
    nt = EsmModel(rm.esm_config(768, 6, 16, 3072, 4107, False, 2, 1e-12), add_pooling_layer=False)
    for layer in nt.encoder.layer:
        layer.intermediate = rm.GatedIntermediate(768, 3072)
        layer.output.dense = torch.nn.Linear(3072, 768, bias=False)
    esm = EsmModel(rm.esm_config(640, 6, 20, 2560, 33, True, 32, 1e-12), add_pooling_layer=False)
    model, window = rm.RefIsoformer(enf.eval(), nt.eval(), esm.eval(), heads=8, head_hidden=3072), 49152

cfg = model.config(window)
work = tempfile.mkdtemp(prefix="isoformer-bench-")
torch.save(model.state_dict(), os.path.join(work, "pytorch_model.bin"))
rm.write_config(os.path.join(work, "config.json"), cfg)
rng = np.random.default_rng(0)
dna = "".join(rng.choice(list("ACGT"), window))
rna = [3] + list(rng.integers(6, 4107, args.rna - 1))
prot = [0] + list(rng.integers(4, 29, args.protein - 2)) + [2]
for name, content in (("dna", dna), ("rna", " ".join(map(str, rna))), ("prot", " ".join(map(str, prot)))):
    open(os.path.join(work, name), "w").write(content + "\n")

c = cfg
flops = {"dna": flops_of.enformer(c, window), "rna": flops_of.esm(c, "nt_", len(rna)),
         "protein": flops_of.esm(c, "esm_", len(prot)), "fusion+head": flops_of.fusion(c, len(rna), len(prot))}

# The machine's sgemm rate: OpenBLAS with its own threads on all cores, in this run (it drifts ~15%).
sgemm = float(subprocess.run([driver, "openblas", "2048", "10"], capture_output=True, text=True, check=True).stdout)
t0 = time.time()
r = subprocess.run([driver, "isoformer", work, *(os.path.join(work, x) for x in ("dna", "rna", "prot")), work],
                   capture_output=True, text=True, check=True)
t_ours_total = time.time() - t0
ours = dict(zip(("dna", "rna", "protein", "fusion+head"),
                (float(x) for x in r.stderr.split("stage seconds:")[1].split()[1::2])))

from enformer_pytorch import str_to_one_hot  # noqa: E402
ref = {}
with torch.no_grad():
    t = time.time(); e_dna = model.dna_model(str_to_one_hot([dna]), return_only_embeddings=True); ref["dna"] = time.time() - t
    ri, pi = torch.tensor([rna]), torch.tensor([prot])
    t = time.time(); e_rna = model.rna_model(input_ids=ri, attention_mask=torch.ones_like(ri)).last_hidden_state; ref["rna"] = time.time() - t
    t = time.time(); e_p = model.protein_model(input_ids=pi, attention_mask=torch.ones_like(pi)).last_hidden_state; ref["protein"] = time.time() - t
    t = time.time()
    h1 = model.cross_attention_layer_rna(e_dna, e_rna, ri != 1)
    h2 = model.cross_attention_layer_protein(h1, e_p, pi != 1)
    model.head(h2.mean(1))
    ref["fusion+head"] = time.time() - t

print(f"isoformer bench, {args.size} model, DNA {window} bp, RNA {len(rna)} tokens, protein {len(prot)} tokens, "
      f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
print(f"sgemm rate of this machine (OpenBLAS, all cores, 2048^3, same run): {sgemm:.1f} GFLOP/s")
print(f"{'stage':12s} {'GFLOP':>9s} {'ours s':>8s} {'torch s':>8s} {'speedup':>8s} {'ours GFLOP/s':>13s} {'% sgemm':>8s}")
for s in flops:
    g = flops[s] / 1e9
    print(f"{s:12s} {g:9.1f} {ours[s]:8.3f} {ref[s]:8.3f} {ref[s] / ours[s]:8.2f} {g / ours[s]:13.1f} "
          f"{100 * g / ours[s] / sgemm:7.1f}%")
tot_o, tot_r, tot_f = sum(ours.values()), sum(ref.values()), sum(flops.values()) / 1e9
print(f"{'total':12s} {tot_f:9.1f} {tot_o:8.3f} {tot_r:8.3f} {tot_r / tot_o:8.2f} {tot_f / tot_o:13.1f} "
      f"{100 * tot_f / tot_o / sgemm:7.1f}%")
print(f"(ours, whole driver run including weight mapping: {t_ours_total:.2f} s)")
