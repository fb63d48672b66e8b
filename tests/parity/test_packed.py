"""Packed ("varlen") encoder batches, no padding: sequences of different lengths concatenated row-wise into one
forward. Each segment is compared with transformers' EsmModel run on that sequence alone (relative error
< 1e-5) and with our single-sequence forward, which it must equal bit for bit (the determinism contract of
docs/model.md: a sequence's GEMMs never see its neighbours' rows), for ESM-2 (token dropout, one sequence with a
<mask>) and NT-v2. Then iso_model_embed_batch on a whole model: a token budget smaller than one of the
sequences, sequences of one token, and the on-disk cache (hits counted; rows through the cache, alone or mixed
with new sequences, identical to the uncached batch; an invalid token). Run under several OPENBLAS_CORETYPE
values by tests/run.sh, since the GEMM kernel choice is what differs between CPUs.
Usage: test_packed.py ISOFORMER_BINARY WORKDIR MODEL_DRIVER"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import refmodels as rm  # noqa: E402

work, driver = sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
torch.manual_seed(7)
rng = np.random.default_rng(7)
failures = []
TOL_REF = 1e-5


def run(*args):
    r = subprocess.run([driver, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{args[0]}: {r.stderr}")
    return r.stdout


def write_seqs(path, seqs):
    with open(path, "w") as f:
        for s in seqs:
            f.write(" ".join(map(str, s)) + "\n")


def reference(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))\
            .last_hidden_state[0]


def single(kind, wpath, cpath, prefix, ids, tag):
    ipath, opath = os.path.join(work, f"{tag}.ids"), os.path.join(work, f"{tag}.out")
    write_seqs(ipath, [ids])
    run(kind, wpath, cpath, prefix, ipath, opath)
    return np.fromfile(opath, dtype=np.float32).reshape(len(ids), -1)


def compare(label, model, seqs, packed, single_out):
    """packed: rows of all sequences in order; single_out(i): our one-sequence forward of sequence i."""
    rows = np.cumsum([0] + [len(s) for s in seqs])
    if packed.shape[0] != rows[-1]:
        failures.append(f"{label}: {packed.shape[0]} rows, expected {rows[-1]}")
        return
    for i, ids in enumerate(seqs):
        seg = packed[rows[i]:rows[i + 1]]
        alone = single_out(i)
        e_ref = rm.rel_err(seg, reference(model, ids))
        n_diff = int((seg != alone).sum())
        print(f"{label}: sequence {i} T={len(ids)} rel_err vs transformers {e_ref:.2e}, "
              f"{n_diff} values differ from ours alone")
        if e_ref >= TOL_REF:
            failures.append(f"{label} sequence {i}: rel_err {e_ref:.3g} vs transformers (tolerance {TOL_REF})")
        if n_diff:
            failures.append(f"{label} sequence {i}: {n_diff} of {seg.size} values differ from the same sequence "
                            f"alone (max abs diff {np.abs(seg - alone).max():.3g})")


def encoder_case(kind, model, prefix, seqs):
    wpath, cpath = os.path.join(work, f"{kind}.bin"), os.path.join(work, f"{kind}.config.json")
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, wpath)
    rm.write_config(cpath, rm.config_fields(f"{kind}_", model))
    spath, opath = os.path.join(work, f"{kind}.seqs"), os.path.join(work, f"{kind}.packed.out")
    write_seqs(spath, seqs)
    run(f"{kind}-packed", wpath, cpath, prefix, spath, opath)
    packed = np.fromfile(opath, dtype=np.float32).reshape(sum(map(len, seqs)), -1)
    compare(f"{kind} packed", model, seqs, packed,
            lambda i: single(kind, wpath, cpath, prefix, seqs[i], f"{kind}.single{i}"))


def protein(n):
    return [0] + list(rng.integers(4, 29, n)) + [2]


def rna(n):
    return [3] + list(rng.integers(6, 4107, n))


# ESM-2: lengths 1 to 122; sequence 3 has a <mask>, so its token-dropout scale differs from its neighbours'.
esm_seqs = [[0], protein(40), protein(120), protein(25), protein(1), protein(63)]
esm_seqs[3][7] = 32
encoder_case("esm", rm.make_esm(), "esm.", esm_seqs)
encoder_case("nt", rm.make_nt(), "nt_model.esm.", [rna(99), [3], rna(0), rna(150), rna(17)])

# The model API: budget 64 tokens, so [1], [150] alone, [30, 1], [70] alone, [45] are the packed forwards.
model = rm.make_isoformer()
mdir = os.path.join(work, "model")
os.makedirs(mdir, exist_ok=True)
torch.save(model.state_dict(), os.path.join(mdir, "pytorch_model.bin"))
rm.write_config(os.path.join(mdir, "config.json"), model.config(128))
wpath, cpath = os.path.join(mdir, "pytorch_model.bin"), os.path.join(mdir, "config.json")


def batch(kind, seqs, budget, tag, cache=None):
    spath, opath = os.path.join(work, f"batch.{tag}.seqs"), os.path.join(work, f"batch.{tag}.out")
    write_seqs(spath, seqs)
    out = run("batch", mdir, kind, spath, budget, opath, *([cache] if cache else []))
    hits = int(out.split()[1])
    return np.fromfile(opath, dtype=np.float32).reshape(sum(map(len, seqs)), -1), hits


for kind, enc, prefix, seqs in (
        ("rna", model.rna_model, "rna_model.", [rna(0), rna(149), rna(29), [3], rna(69), rna(44)]),
        ("protein", model.protein_model, "protein_model.", [[0], protein(1), protein(88), protein(38)])):
    drv = "nt" if kind == "rna" else "esm"
    got, _ = batch(kind, seqs, 64, kind)
    compare(f"batch {kind}", enc, seqs, got,
            lambda i: single(drv, wpath, cpath, prefix, seqs[i], f"batch.{kind}.single{i}"))

    cache = os.path.join(work, f"cache.{kind}")
    subprocess.run(["rm", "-rf", cache], check=True)
    first, h1 = batch(kind, seqs, 64, f"{kind}.c1", cache)
    again, h2 = batch(kind, seqs, 64, f"{kind}.c2", cache)
    # Two cached sequences between two new ones.
    extra = [rna(12) if kind == "rna" else protein(12), seqs[2], seqs[0], rna(80) if kind == "rna" else protein(80)]
    mixed, h3 = batch(kind, extra, 64, f"{kind}.c3", cache)
    rows = np.cumsum([0] + [len(s) for s in seqs])
    expect_mixed = np.concatenate([reference(enc, extra[0]).numpy(), got[rows[2]:rows[3]], got[rows[0]:rows[1]],
                                   reference(enc, extra[3]).numpy()])
    fresh, _ = batch(kind, extra, 64, f"{kind}.c4")
    print(f"batch {kind} cache: hits {h1}, {h2}, {h3} (expected 0, {len(seqs)}, 2)")
    if (h1, h2, h3) != (0, len(seqs), 2):
        failures.append(f"batch {kind} cache hits {h1}, {h2}, {h3}")
    for what, rows_got, rows_want in (("first cached run", first, got), ("second cached run (all hits)", again, got),
                                      ("mixed hits and misses", mixed, fresh)):
        n_diff = int((rows_got != rows_want).sum())
        if n_diff:
            failures.append(f"batch {kind} {what}: {n_diff} of {rows_want.size} values differ from the uncached "
                            f"batch (max abs diff {np.abs(rows_got - rows_want).max():.3g})")
    err = rm.rel_err(mixed, torch.from_numpy(expect_mixed))
    print(f"batch {kind} cache, mixed hits and misses: rel_err {err:.2e} vs transformers")
    if err >= TOL_REF:
        failures.append(f"batch {kind} mixed hits and misses: rel_err {err:.3g} vs transformers")

# Invalid tokens: errors naming the sequence, before anything is computed.
for args, expect in ((["esm-packed", os.path.join(work, "esm.bin"), os.path.join(work, "esm.config.json"), "esm."],
                      "packed sequence 1: token 99 at position 2"),
                     (["batch", mdir, "protein"], "batched protein embedding, sequence 1: token 99 at position 2")):
    spath = os.path.join(work, "bad.seqs")
    write_seqs(spath, [protein(5), [0, 4, 99, 2]])
    r = subprocess.run([driver, *args, spath, *(["8"] if args[0] == "batch" else []), os.path.join(work, "bad.out")],
                       capture_output=True, text=True)
    print(f"{args[0]} with an invalid token: rc {r.returncode}, {r.stderr.strip()}")
    if r.returncode == 0 or expect not in r.stderr:
        failures.append(f"{args[0]} with token 99 (vocabulary 33): rc {r.returncode}, {r.stderr.strip()}")

# A cache entry that cannot be written (a directory in its place) after a hit: a cache only saves work, so the
# batch succeeds with a warning and the values of a batch without a cache, to the rounding of the packing (the
# ASan build checks that nothing leaks on the way).
a, b = protein(6), protein(9)
c1, c2 = os.path.join(work, "cache.broken"), os.path.join(work, "cache.probe")
subprocess.run(["rm", "-rf", c1, c2], check=True)
batch("protein", [a], 64, "broken.a", c1)
batch("protein", [b], 64, "broken.b", c2)
os.mkdir(os.path.join(c1, os.listdir(c2)[0]))
spath, opath = os.path.join(work, "batch.broken.seqs"), os.path.join(work, "batch.broken.out")
write_seqs(spath, [a, b])
r = subprocess.run([driver, "batch", mdir, "protein", spath, "64", opath, c1], capture_output=True, text=True)
uncached, _ = batch("protein", [a, b], 64, "broken.nocache")
print(f"batch with an unwritable cache entry: rc {r.returncode}, {r.stderr.strip()}")
if r.returncode != 0 or "cannot store embeddings in the cache" not in r.stderr or r.stdout.split()[1] != "1" or \
        not np.allclose(np.fromfile(opath, dtype=np.float32).reshape(uncached.shape), uncached, rtol=1e-5, atol=1e-6):
    failures.append(f"batch with an unwritable cache entry: rc {r.returncode}, {r.stdout.strip()}, {r.stderr.strip()}")

for f in failures:
    print("FAILED:", f)
print(f"{len(failures)} failed" if failures else "packed encoder parity passed")
sys.exit(1 if failures else 0)
