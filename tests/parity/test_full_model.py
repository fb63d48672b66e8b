"""Full-size IsoFormer (every real dimension: Enformer 1536 x 11 layers on 196,608 bp, NT-v2 24 x 768 with its
4,107-token vocabulary, ESM-2 30 x 640, 3,072-wide fusion, 6,144-wide head; ~700M parameters with the unused
Enformer species heads), random weights, saved by torch.save as pytorch_model.bin like the published file.
One transcript end to end, ours vs the PyTorch reference, every stage to relative error < 1e-4.
Usage: test_full_model.py ISOFORMER_BINARY WORKDIR MODEL_DRIVER"""
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import refmodels as rm  # noqa: E402

work, driver = sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
torch.manual_seed(5)
torch.set_num_threads(os.cpu_count())
rng = np.random.default_rng(5)

model = rm.make_full_isoformer()
n_params = sum(p.numel() for p in model.state_dict().values() if p.dtype == torch.float32)
mdir = os.path.join(work, "model")
os.makedirs(mdir, exist_ok=True)
t = time.time()
torch.save(model.state_dict(), os.path.join(mdir, "pytorch_model.bin"))
rm.write_config(os.path.join(mdir, "config.json"), model.config(196608))
print(f"saved {n_params / 1e6:.1f}M float32 values "
      f"({os.path.getsize(os.path.join(mdir, 'pytorch_model.bin')) / 1e9:.2f} GB) in {time.time() - t:.1f} s")

dna = "".join(rng.choice(list("ACGTN"), 196608, p=[0.2475] * 4 + [0.01]))
rna = [3] + list(rng.integers(6, 4107, 300))
prot = [0] + list(rng.integers(4, 29, 250)) + [2]
out = os.path.join(work, "out")
os.makedirs(out, exist_ok=True)
for name, content in (("dna.txt", dna), ("rna.txt", " ".join(map(str, rna))), ("prot.txt", " ".join(map(str, prot)))):
    open(os.path.join(out, name), "w").write(content + "\n")
t = time.time()
r = subprocess.run([driver, "isoformer", mdir, *(os.path.join(out, n) for n in ("dna.txt", "rna.txt", "prot.txt")),
                    out], capture_output=True, text=True)
t_ours = time.time() - t
if r.returncode != 0:
    print("driver failed:", r.stderr)
    sys.exit(1)
t = time.time()
ref = model(dna, torch.tensor([rna]), torch.tensor([prot]))
t_ref = time.time() - t
failures = []
for s in ("e_dna", "e_rna", "e_protein", "fused", "pooled", "predictions"):
    got = np.fromfile(os.path.join(out, s + ".f32"), dtype=np.float32)
    err = rm.rel_err(got, ref[s])
    print(f"full-size {s:12s} shape={tuple(ref[s].shape)} rel_err={err:.2e}")
    if err >= 1e-4:
        failures.append(s)
print(f"one transcript end to end: ours {t_ours:.1f} s (load + forward), PyTorch {t_ref:.1f} s (forward)")
print(f"{len(failures)} failed: {failures}" if failures else "full-size parity passed")
sys.exit(1 if failures else 0)
