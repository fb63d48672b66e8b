"""Checkpoints as users' PyTorch writes them, read through iso_weights_get_f32 (weights_driver) and compared value
by value with torch.load: storage views (q/k/v split from one parameter, tied weights), half and bfloat16 widened,
0-d and empty tensors, pickle protocols 1 to 5, OrderedDict and training-checkpoint wrappers, tensors carrying
Python attributes, and archives re-zipped by Python's zipfile (unaligned, zip64). Layouts we do not read must be
refused naming the file, the tensor and what was expected. Runs under this interpreter's torch and again, when
bench/.venv-torch exists, under PyTorch 2.x (whose archives add byteorder, .format_version and
.storage_alignment entries).
Usage: test_weights_layouts.py ISOFORMER_BINARY WORKDIR WEIGHTS_DRIVER
"""
import collections
import math
import os
import re
import subprocess
import sys
import zipfile

import torch

driver, work = sys.argv[3], sys.argv[2]
os.makedirs(work, exist_ok=True)
torch.manual_seed(0)
TORCH2 = int(torch.__version__.split(".")[0]) >= 2
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def load(path):
    return torch.load(path, weights_only=False) if TORCH2 else torch.load(path)


def read(path):
    """Our tensors: {name: (dtype, shape, values or bytes)}, or the error message."""
    r = subprocess.run([driver, path], capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip()
    got = {}
    for line in r.stdout.splitlines():
        name, dtype, shape, vals = line.split("\t")
        got[name] = (dtype, shape, vals)
    return got


def same(name, path, ref):
    """Every tensor of ref (name -> tensor, as torch.load gives it) read by us with torch's values, bit for bit."""
    got = read(path)
    if isinstance(got, str):
        check(False, f"{name}: refused: {got}")
        return
    check(set(got) == set(ref), f"{name}: names {sorted(got)} != torch's {sorted(ref)}")
    for k, t in ref.items():
        if k not in got:
            continue
        dtype, shape, vals = got[k]
        t = t.detach().contiguous()
        check(shape == ",".join(map(str, t.shape)), f"{name}: {k} shape {shape} != {tuple(t.shape)}")
        if t.is_floating_point():
            ours = [float.fromhex(v) for v in vals.split(",")] if vals else []
            theirs = t.float().reshape(-1).tolist()
            check(len(ours) == len(theirs) and all(a == b and math.copysign(1, a) == math.copysign(1, b)
                                                   for a, b in zip(ours, theirs)),
                  f"{name}: {k} values {ours[:4]} != torch's {theirs[:4]}")
        else:
            check(bytes.fromhex(vals) == t.numpy().tobytes(), f"{name}: {k} bytes differ from torch's")


def save(name, obj, **kw):
    path = os.path.join(work, name + ".bin")
    torch.save(obj, path, **kw)
    return path


def refused(name, path, expect):
    got = read(path)
    check(isinstance(got, str) and re.search(expect, got) and path in got,
          f"{name}: want refusal /{expect}/ naming the file, got {got if isinstance(got, str) else 'success'}")


qkv = torch.nn.Parameter(torch.randn(24, 5))
q, k, v = qkv.detach().chunk(3)  # views at storage offsets 0, 40, 80 of one storage
halves = torch.randn(9).half()
lin = torch.nn.Linear(4, 3)
plain = {
    "w": torch.randn(3, 4), "param": torch.nn.Parameter(torch.randn(2, 2)),
    "q": q, "k": k, "v": v,
    "enc.weight": lin.weight, "dec.weight": lin.weight,  # tied: two names, one storage
    "h.view": halves[3:8], "bf": torch.randn(7).bfloat16()[2:],
    "specials": torch.tensor([-0.0, 1e-45, -1e-40, 3.4e38, 1e-38]),
    "h.specials": torch.tensor([6e-8, -6e-8, 65504, -0.0, 1e-5], dtype=torch.float16),
    "bf.specials": torch.tensor([1e-40, -3e38, -0.0], dtype=torch.bfloat16),
    "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3), "size1": torch.randn(4, 1, 6).transpose(0, 1),
    "steps": torch.tensor(7), "ids": torch.tensor([-1, 2], dtype=torch.int32),
    "u8": torch.tensor([0, 255], dtype=torch.uint8), "mask": torch.tensor([True, False]),
}
for proto in (1, 2, 4, 5):  # 1 writes every int and bool as INT text
    name = f"proto{proto}"
    p = save(name, plain, pickle_protocol=proto)
    same(name, p, load(p))
p = save("ordered", collections.OrderedDict(plain))
same("ordered", p, load(p))
module = torch.nn.Sequential(torch.nn.Conv1d(4, 8, 3), torch.nn.BatchNorm1d(8))
sd = module.state_dict()
for key in ("state_dict", "model", "model_state_dict"):  # the last is PyTorch's checkpoint tutorial's
    p = save(f"wrapped_{key}", {"epoch": 3, key: sd, "optimizer_state_dict": {"state": {}, "param_groups": []}})
    same(f"wrapped_{key}", p, load(p)[key])
# A tensor with a Python attribute: torch 2 saves it through _rebuild_from_type_v2.
tagged = torch.randn(3)
tagged.note = "calibrated"
p = save("attribute", {"t": tagged, "u": torch.randn(2)})
same("attribute", p, load(p))


class Scaled(torch.Tensor):
    pass


p = save("subclass", {"t": torch.randn(3).as_subclass(Scaled)})
refused("subclass", p, r"tensor of class __main__\.Scaled; expected torch\.Tensor")

# Re-zipped by Python's zipfile, which does not align entries (torch reads these): plain and zip64.
src = save("torchsaved", plain)
for force in (False, True):
    name = f"rezipped_zip64_{force}"
    dst = os.path.join(work, name + ".bin")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            with zout.open(zipfile.ZipInfo(info.filename), "w", force_zip64=force) as f:
                f.write(zin.read(info))
    same(name, dst, load(dst))

# Refusals: the file, the tensor and what was expected.
for dtype, storage in ((torch.float64, "Double"), (torch.int8, "Char"), (torch.int16, "Short")):
    p = save(f"{storage}", {"ok": torch.zeros(2), "enformer.x": torch.ones(3, dtype=dtype)})
    refused(storage, p, rf"tensor 'enformer\.x' is stored as torch\.{storage}Storage; expected a Float, Half")
# ... but a float64 tensor outside the state dict (an optimizer's) does not stop the load.
p = save("f64_outside", {"model": {"w": torch.ones(2)}, "extra": {"lr_hist": torch.ones(2, dtype=torch.float64)}})
same("f64_outside", p, load(p)["model"])
p = save("transposed", {"ok": torch.zeros(2), "t": torch.randn(3, 4).t()})
refused("transposed", p, r"tensor 't' is not contiguous")
p = save("channels_last", {"c": torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)})
refused("channels_last", p, r"tensor 'c' is not contiguous")
p = save("elsewhere", {"weights": {"w": torch.ones(2)}, "epoch": 1})
refused("elsewhere", p, r"holds 1 tensors but no state dict.*'model_state_dict'.*top-level keys: 'weights', 'epoch'")
p = save("legacy", {"x": torch.zeros(2)}, _use_new_zipfile_serialization=False)
refused("legacy", p, r"legacy \(pre-1\.6\) torch\.save format")

# Safetensors with a dtype we do not read: the message names it.
try:
    from safetensors.torch import save_file
    p = os.path.join(work, "f64.safetensors")
    save_file({"d": torch.ones(2, dtype=torch.float64)}, p)
    refused("f64.safetensors", p, r"tensor 'd': dtype is F64; expected one of F32")
except ImportError:
    pass

print(f"torch {torch.__version__}: " + (f"{len(failures)} failed" if failures else "all layout checks passed"))
status = 1 if failures else 0
# Once more under PyTorch 2.x, when the bench's venv has it.
torch2 = os.path.join(os.path.dirname(__file__), "..", "..", "bench", ".venv-torch", "bin", "python")
if not TORCH2 and os.path.exists(torch2):
    status |= subprocess.run([torch2, __file__, sys.argv[1], os.path.join(work, "torch2"), driver]).returncode
sys.exit(status)
