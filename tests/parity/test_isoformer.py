"""The whole IsoFormer, ours vs the PyTorch reference (enformer-pytorch + transformers' EsmModel + the spec's
fusion and head), per stage: E_dna, E_rna, E_protein, fused, pooled, predictions, relative error < 1e-4.
The reference gets RNA and protein padded to a fixed length with masks; ours runs the real tokens only.
Also: the same model converted to safetensors gives bit-identical outputs; parallel fusion; a non-coding
transcript (the empty protein, and the protein block skipped).
Usage: test_isoformer.py ISOFORMER_BINARY WORKDIR MODEL_DRIVER"""
import filecmp
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import refmodels as rm  # noqa: E402

iso, work, driver = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
torch.manual_seed(4)
rng = np.random.default_rng(4)
failures = []
STAGES = ["e_dna", "e_rna", "e_protein", "fused", "pooled", "predictions"]
# predict's path: without the fused matrix only the pool window's rows go through the fusion
WINDOW_ROWS = {"pooled_window_rows": "pooled", "predictions_window_rows": "predictions"}


def save_model(model, d, window):
    os.makedirs(d, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(d, "pytorch_model.bin"))
    rm.write_config(os.path.join(d, "config.json"), model.config(window))


def run_ours(model_dir, dna, rna, prot, out, env=None):
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, n) for n in ("dna.txt", "rna.txt", "prot.txt")]
    open(paths[0], "w").write(dna + "\n")
    open(paths[1], "w").write(" ".join(map(str, rna)) + "\n")
    open(paths[2], "w").write(" ".join(map(str, prot)) + "\n")
    r = subprocess.run([driver, "isoformer", model_dir, *paths, out], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return {s: np.fromfile(os.path.join(out, s + ".f32"), dtype=np.float32) for s in [*STAGES, *WINDOW_ROWS]
            if os.path.exists(os.path.join(out, s + ".f32"))}


def pad(ids, n):
    return torch.tensor([ids + [1] * (n - len(ids))])


def case(label, model, window, env=None, with_protein=True):
    d = os.path.join(work, label)
    save_model(model, d, window)
    dna = "".join(rng.choice(list("ACGTN"), window, p=[0.24] * 4 + [0.04]))
    rna = [3] + list(rng.integers(6, 4107, 90))
    prot = [0] + list(rng.integers(4, 29, 40)) + [2] if with_protein else []
    ref = model(dna, pad(rna, 128), pad(prot if prot else [0, 2], 64))
    got = run_ours(d, dna, rna, prot, os.path.join(d, "out"), env)
    for s in STAGES:
        if s == "e_protein" and not with_protein:
            continue
        r = ref[s]
        if s in ("e_rna", "e_protein"):
            r = r[: len(rna) if s == "e_rna" else len(prot)]  # real rows; pad rows are never used
        err = rm.rel_err(got[s], r)
        print(f"{label}: {s:12s} shape={tuple(r.shape)} rel_err={err:.2e}")
        if err >= 1e-4:
            failures.append(f"{label} {s}: {err}")
    for s, r in WINDOW_ROWS.items():
        err = rm.rel_err(got[s], ref[r])
        print(f"{label}: {s:23s} rel_err={err:.2e}")
        if err >= 1e-4:
            failures.append(f"{label} {s}: {err}")
    return d, (dna, rna, prot)


model = rm.make_isoformer()
window = 8 * 24
d, inputs = case("sequential", model, window)

# The converted safetensors model gives bit-identical results.
st = os.path.join(work, "safetensors")
os.makedirs(st, exist_ok=True)
shutil.copy(os.path.join(d, "config.json"), st)
r = subprocess.run([iso, "convert", d, os.path.join(st, "model.safetensors")], capture_output=True, text=True)
if r.returncode != 0:
    failures.append("convert failed: " + r.stderr)
else:
    run_ours(st, *inputs, os.path.join(st, "out"))
    for s in STAGES:
        if not filecmp.cmp(os.path.join(d, "out", s + ".f32"), os.path.join(st, "out", s + ".f32"), shallow=False):
            failures.append(f"safetensors model differs at {s}")
    print("safetensors: bit-identical" if not any("safetensors" in f for f in failures) else "safetensors: DIFFER")

# A pool window, with sequential and parallel fusion.
model.pool = (5, 9)
case("sequential-window", model, window)
model.parallel, model.pool = True, (3, 11)
case("parallel", model, window, env={"ISO_FUSION": "parallel"})

# A transcript without protein (non-coding): by default the empty protein <cls><eos> goes through ESM-2 and the
# protein block, as the reference model is called with it; with ISO_NONCODING=skip the block is skipped.
model.parallel, model.pool = False, (0, None)
case("empty-protein", model, window, with_protein=False)
model.skip_protein = True
case("no-protein", model, window, env={"ISO_NONCODING": "skip"}, with_protein=False)

print(f"{len(failures)} failed: {failures}" if failures else "isoformer parity passed")
sys.exit(1 if failures else 0)
