"""Enformer trunk: ours vs enformer-pytorch (return_only_embeddings) on random small configurations and random
ACGTN sequences, relative error < 1e-4. Usage: test_enformer.py ISOFORMER_BINARY WORKDIR MODEL_DRIVER"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import refmodels as rm  # noqa: E402

work, driver = sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
torch.manual_seed(2)
rng = np.random.default_rng(2)
failures = []


def run_case(label, model, length, prefix="enformer.", state=None):
    seq = "".join(rng.choice(list("ACGTN"), length, p=[0.24, 0.24, 0.24, 0.24, 0.04]))
    wpath, cpath = os.path.join(work, f"{label}.bin"), os.path.join(work, f"{label}.json")
    dpath, opath = os.path.join(work, f"{label}.dna"), os.path.join(work, f"{label}.out")
    sd = state if state is not None else model.state_dict()
    torch.save({prefix + k: v for k, v in sd.items()}, wpath)
    rm.write_config(cpath, rm.enformer_config_fields(model))
    open(dpath, "w").write(seq + "\n")
    r = subprocess.run([driver, "enformer", wpath, cpath, prefix, dpath, opath], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"{label}: driver failed: {r.stderr}")
        return
    from enformer_pytorch import str_to_one_hot
    with torch.no_grad():
        ref = model(str_to_one_hot([seq]), return_only_embeddings=True)[0]
    got = np.fromfile(opath, dtype=np.float32).reshape(ref.shape)
    err = rm.rel_err(got, ref)
    print(f"{label}: len={length} out={tuple(ref.shape)} rel_err={err:.2e}")
    if err >= 1e-4:
        failures.append(f"{label}: rel_err {err}")


m1 = rm.make_enformer()
run_case("small", m1, 8 * 24)  # 24 positions cropped to 16
m2 = rm.make_enformer(dim=96, depth=3, heads=4, attn_dim_key=12, num_downsamples=4, dim_divisible_by=8,
                      target_length=20)
run_case("deeper", m2, 16 * 32)
# A checkpoint that keeps only the _trunk.N aliases of the trunk.
sd = {k: v for k, v in m1.state_dict().items() if not k.startswith(("stem.", "conv_tower.", "transformer.",
                                                                     "final_pointwise."))}
run_case("trunk-aliases", m1, 8 * 20, prefix="model.enformer.", state=sd)

# A window that is not a multiple of 2^num_downsamples fails with a clear message.
bad = os.path.join(work, "bad.dna")
open(bad, "w").write("ACGT" * 47 + "\n")
r = subprocess.run([driver, "enformer", os.path.join(work, "small.bin"), os.path.join(work, "small.json"),
                    "enformer.", bad, os.path.join(work, "bad.out")], capture_output=True, text=True)
if r.returncode == 0 or "multiple of 8" not in r.stderr:
    failures.append(f"bad length not rejected clearly: {r.stderr}")

print(f"{len(failures)} failed: {failures}" if failures else "enformer parity passed")
sys.exit(1 if failures else 0)
