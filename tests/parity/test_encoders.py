"""ESM-2 and NT-v2 encoders: ours vs transformers' EsmModel (NT-v2's gated FFN swapped in), per layer stack
output after the final LayerNorm, relative error < 1e-4 in float32.
Usage: test_encoders.py ISOFORMER_BINARY WORKDIR MODEL_DRIVER"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import refmodels as rm  # noqa: E402

work, driver = sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
torch.manual_seed(1)
failures = []
TOL = 1e-4


def ours(kind, model, cfg_fields, ids, prefix):
    wpath = os.path.join(work, f"{kind}.bin")
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, wpath)
    cpath = os.path.join(work, f"{kind}.config.json")
    rm.write_config(cpath, cfg_fields)
    ipath, opath = os.path.join(work, f"{kind}.ids"), os.path.join(work, f"{kind}.out")
    np.savetxt(ipath, np.asarray(ids)[None, :], fmt="%d")
    r = subprocess.run([driver, kind, wpath, cpath, prefix, ipath, opath], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return np.fromfile(opath, dtype=np.float32).reshape(len(ids), -1)


def check(kind, model, ids, prefix, fields):
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    ref = ref.last_hidden_state[0]
    got = ours(kind, model, fields, ids, prefix)
    err = rm.rel_err(got, ref)
    print(f"{kind}: T={len(ids)} hidden={ref.shape[1]} rel_err={err:.2e}")
    if err >= TOL:
        failures.append(f"{kind} rel_err {err}")


rng = np.random.default_rng(0)
esm = rm.make_esm()
prot = [0] + list(rng.integers(4, 29, 57)) + [2]
check("esm", esm, prot, "esm.", rm.config_fields("esm_", esm))
# A <mask> token changes the token-dropout scale (observed mask ratio) and zeroes that row.
prot_masked = list(prot)
prot_masked[10] = 32
check("esm", esm, prot_masked, "esm.", rm.config_fields("esm_", esm))
esm_eps = rm.make_esm(hidden=40, layers=3, heads=5, inter=72, eps=1e-5, token_dropout=False)
check("esm", esm_eps, [0] + list(rng.integers(4, 29, 33)) + [2], "protein_model.esm.",
      rm.config_fields("esm_", esm_eps))

nt = rm.make_nt()
rna = [3] + list(rng.integers(6, 4107, 120))
check("nt", nt, rna, "nt_model.esm.", rm.config_fields("nt_", nt))

print(f"{len(failures)} failed" if failures else "encoder parity passed")
sys.exit(1 if failures else 0)
