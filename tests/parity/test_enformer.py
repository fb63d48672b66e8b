"""Enformer trunk: ours vs enformer-pytorch (return_only_embeddings) on random small configurations and random
ACGTN sequences, relative error < 1e-4. Usage: test_enformer.py ISOFORMER_BINARY WORKDIR MODEL_DRIVER"""
import os
import re
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


def drive(label, wpath, cpath, prefix, dpath, shape, tile=None):
    """Runs the driver; returns (output, peak activation bytes), or (None, stderr) when it failed."""
    opath = os.path.join(work, f"{label}.out")
    r = subprocess.run([driver, "enformer", wpath, cpath, prefix, dpath, opath] + ([str(tile)] if tile else []),
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    peak = int(re.search(r"peak activation bytes (\d+)", r.stderr).group(1))
    return np.fromfile(opath, dtype=np.float32).reshape(shape), peak


def run_case(label, model, length, prefix="enformer.", state=None, tiles=()):
    """Ours vs the reference on a random sequence, with the default stem tile and each of `tiles`; returns
    {tile: (output, peak bytes)}."""
    seq = "".join(rng.choice(list("ACGTN"), length, p=[0.24, 0.24, 0.24, 0.24, 0.04]))
    wpath, cpath, dpath = (os.path.join(work, f"{label}.{ext}") for ext in ("bin", "json", "dna"))
    sd = state if state is not None else model.state_dict()
    torch.save({prefix + k: v for k, v in sd.items()}, wpath)
    rm.write_config(cpath, rm.enformer_config_fields(model))
    open(dpath, "w").write(seq + "\n")
    from enformer_pytorch import str_to_one_hot
    with torch.no_grad():
        ref = model(str_to_one_hot([seq]), return_only_embeddings=True)[0]
    results = {}
    for tile in (None,) + tuple(tiles):
        name = label if tile is None else f"{label}-tile{tile}"
        got, peak = drive(name, wpath, cpath, prefix, dpath, ref.shape, tile)
        if got is None:
            failures.append(f"{name}: driver failed: {peak}")
            continue
        err = rm.rel_err(got, ref)
        print(f"{name}: len={length} out={tuple(ref.shape)} rel_err={err:.2e} peak={peak} B")
        if err >= 1e-4:
            failures.append(f"{name}: rel_err {err}")
        results[tile] = got, peak
    return results


m1 = rm.make_enformer()
run_case("small", m1, 8 * 24)  # 24 positions cropped to 16
m2 = rm.make_enformer(dim=96, depth=3, heads=4, attn_dim_key=12, num_downsamples=4, dim_divisible_by=8,
                      target_length=20)
run_case("deeper", m2, 16 * 32)

# The stem runs in tiles of positions (default 16384, one tile here). Several tiles with a partial last one, and
# 2-position tiles, must match the reference and the one-tile result (to 1e-6: OpenBLAS rounds a row differently
# depending on the GEMM's row count), with the window x dim/2 stem activations gone from the peak.
res = run_case("tiled", m2, 16 * 40, tiles=(100, 2))
if None in res:
    whole, whole_peak = res[None]
    for tile in (100, 2):
        if tile not in res:
            continue
        got, peak = res[tile]
        diff = float(np.max(np.abs(got.astype(np.float64) - whole)) / np.max(np.abs(whole)))
        print(f"tile {tile}: max rel diff vs one tile {diff:.2e} (bit-identical: {np.array_equal(got, whole)})")
        if diff > 1e-6:
            failures.append(f"stem tile {tile}: differs from one tile by {diff}")
        # One tile needs 4 buffers of 640 x 48 floats (window x dim/2); tiled, they are the tower's 320 x 48.
        if peak > whole_peak - 4 * (640 - 320) * 48 * 4:
            failures.append(f"stem tile {tile}: peak {peak} B, one tile {whole_peak} B: the stem buffers did not "
                            "shrink to the tower's")
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
# An odd stem tile would split a pooled pair.
got, err = drive("odd-tile", os.path.join(work, "small.bin"), os.path.join(work, "small.json"), "enformer.",
                 os.path.join(work, "small.dna"), None, 7)
if got is not None or "even" not in err:
    failures.append(f"odd stem tile not rejected clearly: {err}")

print(f"{len(failures)} failed: {failures}" if failures else "enformer parity passed")
sys.exit(1 if failures else 0)
