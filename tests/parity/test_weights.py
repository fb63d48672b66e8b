"""Checkpoint reading and writing checked against PyTorch and the safetensors library.

torch.save writes state dicts with the features real checkpoints use (float, integer, uint8 and bool
tensors, storages shared by two names as Enformer's double registration does, views with a storage offset,
0-d and empty tensors, nn.Parameter); `isoformer convert` must list exactly their names, dtypes and shapes, and the
safetensors it writes must load in the safetensors library with values identical to torch's. Files written by
the safetensors library are read back the same way, and malformed files must fail with a clear message.
Usage: test_weights.py ISOFORMER_BINARY WORKDIR
"""
import json
import os
import re
import struct
import subprocess
import sys
import zipfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

iso, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
torch.manual_seed(0)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    return subprocess.run([iso, *args], capture_output=True, text=True)


def listing(path):
    r = run("convert", "--list", path)
    check(r.returncode == 0, f"convert --list {path}: {r.stderr}")
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("#"):
            continue
        name, dtype, shape = line.split("\t")
        out[name] = (dtype, shape)
    return out


DT = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
      torch.uint8: "U8", torch.bool: "BOOL"}


def fmt_shape(t):
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def compare(sd, path, label):
    got = load_file(path)
    for k, v in sd.items():
        v = v.detach()
        check(k in got, f"{label}: {k} missing")
        if k in got:
            check(got[k].dtype == v.dtype and got[k].shape == v.shape, f"{label}: {k} dtype/shape")
            check(torch.equal(got[k], v.contiguous()), f"{label}: {k} values differ")
    check(set(got) == set(sd), f"{label}: extra names {set(got) - set(sd)}")


# A state dict in the shapes and layout of real checkpoints.
shared = torch.randn(48, 4, 15)
big = torch.randn(20, 33)
sd = {
    "enformer.stem.0.weight": shared,
    "enformer._trunk.0.1.weight": shared,  # same storage, second name
    "enformer.stem.1.fn.0.running_mean": torch.randn(48),
    "enformer.stem.1.fn.0.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
    "esm.embeddings.word_embeddings.weight": torch.nn.Parameter(torch.randn(33, 16)),
    "rows.view": big[5:9],  # storage offset into a larger storage
    "empty": torch.zeros(0, 3),
    "scalar": torch.tensor(3.5),
    "half": torch.randn(4, 4).half(),
    "bf16": torch.randn(2, 8).bfloat16(),
    "ids": torch.arange(10, dtype=torch.int32),
    # 1-byte elements (attention masks, quantised weights) and odd byte counts, which misalign every tensor
    # written after them unless the writer orders the data by element size.
    "mask.bool": torch.tensor([True, False, True]),
    "mask.u8": torch.randint(0, 256, (5,), dtype=torch.uint8),
    "half.odd": torch.randn(3).half(),
}
for i in range(1500):  # as many keys as the real checkpoint: LONG_BINPUT memo indices
    sd[f"nt.encoder.layer.{i}.attention.self.query.bias"] = torch.randn(8)
bin_path = os.path.join(work, "model.bin")
torch.save(sd, bin_path)

lst = listing(bin_path)
for k, v in sd.items():
    check(k in lst and lst[k] == (DT[v.dtype], fmt_shape(v)), f".bin listing of {k}: {lst.get(k)}")
check(len(lst) == len(sd), f".bin listing has {len(lst)} tensors, torch saved {len(sd)}")

st_path = os.path.join(work, "model.safetensors")
r = run("convert", bin_path, st_path)
check(r.returncode == 0, f"convert: {r.stderr}")
# Aliases are stored once: the library sees the canonical name only; our reader restores both.
canonical = {k: v for k, v in sd.items() if k != "enformer.stem.0.weight"}
compare(canonical, st_path, "bin->safetensors")
check(listing(st_path) == lst, "safetensors listing (with aliases) differs from the .bin listing")
sums = [run("convert", "--list", p).stdout.splitlines()[-1] for p in (bin_path, st_path)]
check(sums[0] == sums[1], f"checksums differ between .bin and .safetensors: {sums}")
with safe_open(st_path, framework="pt") as f:  # transformers' from_pretrained requires format "pt"
    check((f.metadata() or {}).get("format") == "pt", f"written metadata lacks format=pt: {f.metadata()}")


def misaligned(path):
    """Tensors whose first byte in the file is not a multiple of their element size (from the header alone)."""
    raw = open(path, "rb").read()
    hlen = struct.unpack("<Q", raw[:8])[0]
    size = {"F32": 4, "I32": 4, "I64": 8, "F16": 2, "BF16": 2, "U8": 1, "BOOL": 1}
    return [k for k, e in json.loads(raw[8:8 + hlen]).items()
            if k != "__metadata__" and (8 + hlen + e["data_offsets"][0]) % size[e["dtype"]]]


check(not misaligned(st_path), f"written tensors not aligned to their element size: {misaligned(st_path)}")
# -v lists every tensor as `--list` does (on stderr: the output is the file).
r = run("convert", "-v", bin_path, os.path.join(work, "verbose.safetensors"))
verbose = {ln.split("\t")[0]: tuple(ln.split("\t")[1:]) for ln in r.stderr.splitlines() if ln.count("\t") == 2}
check(r.returncode == 0 and verbose == lst, f"convert -v lists {len(verbose)} tensors, --list {len(lst)}: {r.stderr[:300]}")


def repack(src, dst, edit=lambda name, data: data, compression=zipfile.ZIP_STORED, zip64_limit=None, extra=None):
    """Rewrites a torch.save zip with Python's zipfile (an independent writer): entries edited or dropped
    (edit returns None), compressed, given other entries, or with sizes, offsets and counts above zip64_limit
    moved to ZIP64 records (as a > 4 GiB checkpoint has them)."""
    limits = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    if zip64_limit is not None:
        zipfile.ZIP64_LIMIT = zipfile.ZIP_FILECOUNT_LIMIT = zip64_limit
    try:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
            prefix = zin.namelist()[0].split("/")[0]
            for info in zin.infolist():
                data = edit(info.filename.split("/", 1)[1], zin.read(info))
                if data is not None:
                    zout.writestr(info.filename, data)
            for name, data in (extra or {}).items():
                zout.writestr(f"{prefix}/{name}", data)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = limits


# ZIP64 (a checkpoint over 4 GiB has it): with limit -1 every size and offset is in zip64 extra fields and the
# end-of-central-directory in its zip64 record, and torch reads the file too; with limit 100 only the values
# above 100 are (spec-valid, read by zipfile, though torch's miniz refuses the mix).
for limit in (-1, 100):
    z64 = os.path.join(work, f"zip64_{limit}.bin")
    repack(bin_path, z64, zip64_limit=limit)
    with open(z64, "rb") as f:
        check(b"PK\x06\x06" in f.read(), "repacked file has no zip64 end-of-central-directory record")
    if limit < 0:
        z64_sd = torch.load(z64)
        check(all(torch.equal(z64_sd[k], v.detach()) for k, v in sd.items()), "torch reads zip64 differently")
    check(listing(z64) == lst, f"zip64 (limit {limit}) listing differs from the .bin listing")
    z64_st = os.path.join(work, f"zip64_{limit}.safetensors")
    r = run("convert", z64, z64_st)
    check(r.returncode == 0, f"convert zip64: {r.stderr}")
    compare(canonical, z64_st, f"zip64 (limit {limit}) bin->safetensors")
# torch >= 2.1 adds a byteorder entry.
little = os.path.join(work, "little.bin")
repack(bin_path, little, extra={"byteorder": b"little"})
check(listing(little) == lst, "a byteorder=little entry changes the listing")

# Files written by the safetensors library.
lib_sd = {"a.weight": torch.randn(7, 5), "b.bias": torch.randn(5), "c": torch.arange(6, dtype=torch.int64).reshape(2, 3)}
lib_path = os.path.join(work, "lib.safetensors")
save_file(lib_sd, lib_path)
out2 = os.path.join(work, "lib2.safetensors")
r = run("convert", lib_path, out2)
check(r.returncode == 0, f"convert library safetensors: {r.stderr}")
compare(lib_sd, out2, "library safetensors roundtrip")

# A checkpoint wrapped as {"state_dict": ...} and an nn.Module's own state_dict with _metadata.
module = torch.nn.Sequential(torch.nn.Conv1d(4, 8, 5), torch.nn.BatchNorm1d(8), torch.nn.Linear(3, 2))
wrapped = os.path.join(work, "wrapped.bin")
torch.save({"state_dict": module.state_dict(), "epoch": 3}, wrapped)
out3 = os.path.join(work, "wrapped.safetensors")
r = run("convert", wrapped, out3)
check(r.returncode == 0, f"convert wrapped: {r.stderr}")
compare(module.state_dict(), out3, "module state_dict")

# Malformed inputs: clear errors, no output file.
data = open(bin_path, "rb").read()
cases = {
    "truncated.bin": (data[: len(data) // 2], "truncated|end-of-central-directory|outside the file"),
    "notzip.bin": (b"\x00" * 64, "neither a PyTorch zip"),
    "badheader.safetensors": (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}xxxxxx", "not valid JSON"),
    "overlap.safetensors": None,
    "pastend.safetensors": None,
}
hdr = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
cases["overlap.safetensors"] = (len(hdr).to_bytes(8, "little") + hdr + b"\x00" * 12, "overlap")
hdr2 = b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
cases["pastend.safetensors"] = (len(hdr2).to_bytes(8, "little") + hdr2 + b"\x00" * 8, "past the end")
# A pickle calling something other than the state-dict callables must be refused, not executed.
evil = os.path.join(work, "evil.bin")
torch.save({"x": torch.zeros(1)}, evil)
raw = open(evil, "rb").read().replace(b"collections\nOrderedDict", b"os\nsystem\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"[: len("collections\nOrderedDict")])
cases["evil.bin"] = (raw, "refusing|unsupported|REDUCE|malformed|data.pkl")
hole = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}'
cases["hole.safetensors"] = (len(hole).to_bytes(8, "little") + hole + b"\x00" * 12, r"\[4, 8\) before tensor 'b' belong to no tensor")
legacy = os.path.join(work, "legacy-src.bin")
torch.save({"x": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
cases["legacy.bin"] = (open(legacy, "rb").read(), r"legacy \(pre-1\.6\) torch\.save format.*re-save")
# A view whose strides are not row-major: torch.save keeps the strides; we refuse it by name.
noncontig = os.path.join(work, "noncontig-src.bin")
torch.save({"ok": torch.zeros(3), "enformer.t.weight": torch.randn(4, 6).t()}, noncontig)
cases["noncontig.bin"] = (open(noncontig, "rb").read(), r"tensor 'enformer\.t\.weight' is not contiguous")


def repacked(**kw):
    p = os.path.join(work, "repack.tmp")
    repack(bin_path, p, **kw)
    return open(p, "rb").read()


# Edits made through zipfile, so every zip structure stays valid and only the named defect remains.
storage0 = lambda name: name == "data/0"  # noqa: E731
cases["shortstorage.bin"] = (repacked(edit=lambda n, d: d[:len(d) // 2] if storage0(n) else d),
                             r"tensor '[^']+' \(offset \d+, \d+ bytes\) runs past its storage")
cases["nostorage.bin"] = (repacked(edit=lambda n, d: None if storage0(n) else d), "storage '0' named in data.pkl has no zip entry")
cases["deflated.bin"] = (repacked(compression=zipfile.ZIP_DEFLATED), "compressed")
cases["badopcode.bin"] = (repacked(edit=lambda n, d: d[:2] + b"\xff" + d[3:] if n == "data.pkl" else d),
                          "data.pkl offset 2: unsupported pickle opcode 0xff")
cases["cutpickle.bin"] = (repacked(edit=lambda n, d: d[:len(d) // 2] if n == "data.pkl" else d), "data.pkl offset \\d+: ")
cases["bigendian.bin"] = (repacked(extra={"byteorder": b"big"}), "not little-endian .*'big'")
# A shape whose byte count overflows 64 bits (2^62 int64 elements: 2^65 bytes, 0 when wrapped) is refused,
# not mapped as an empty view of a huge tensor.
huge = os.path.join(work, "huge-src.bin")
torch.save({"x": torch.zeros(3, dtype=torch.int64)}, huge)
with zipfile.ZipFile(huge) as z:
    pkl = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
check(pkl.count(b"K\x03\x85") == 1, "huge: the shape (3,) is not a single BININT1 3, TUPLE1 in the pickle")
p = os.path.join(work, "repack.tmp")
repack(huge, p, edit=lambda n, d: d.replace(b"K\x03\x85", b"\x8a\x08" + (1 << 62).to_bytes(8, "little") + b"\x85")
       if n == "data.pkl" else d)
cases["hugeshape.bin"] = (open(p, "rb").read(), "tensor 'x' has an invalid shape")


def pickle_zip(pkl):
    """A torch.save-layout zip (archive/data.pkl, stored) around a hand-written pickle."""
    p = os.path.join(work, "pickle.tmp")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", pkl)
    return open(p, "rb").read()


# Hostile pickles must be bounded in memory: past 2^21 objects (model.bin above needs 48,461 for 1,514
# tensors) the reader stops with a message, rather than allocating for as long as the pickle goes on.
cases["manyobjects.bin"] = (pickle_zip(b"\x80\x02}" + b"]0" * ((1 << 21) + 1) + b"."),
                            "more than 2097152 objects")
for name, (blob, expect) in cases.items():
    p = os.path.join(work, name)
    open(p, "wb").write(blob)
    out = os.path.join(work, name + ".out.safetensors")
    if os.path.exists(out):  # from an earlier failing run in the same work directory
        os.remove(out)
    r = run("convert", p, out)
    check(r.returncode == 1 and re.search(expect, r.stderr) and name in r.stderr,
          f"{name}: want exit 1 and /{expect}/ naming the file, got {r.returncode}: {r.stderr.strip()}")
    check(not os.path.exists(out), f"{name}: output left behind")

# data.pkl over 256 MiB is refused before it is interpreted. The entry is a hole in a sparse file (written here
# byte by byte from the zip specification), so the test neither writes nor reads 256 MiB.
big_pkl = os.path.join(work, "bigpickle.bin")
name, size = b"archive/data.pkl", (256 << 20) + 1
local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, size, size, len(name), 0) + name
central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, 0, size, size, len(name), 0, 0, 0, 0,
                      0, 0) + name
with open(big_pkl, "wb") as f:
    f.write(local)
    f.seek(len(local) + size)
    f.write(central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + size, 0))
r = run("convert", "--list", big_pkl)
check(r.returncode == 1 and re.search(r"data\.pkl is 268435457 bytes.*256 MiB", r.stderr),
      f"bigpickle.bin: want exit 1 and the size limit named, got {r.returncode}: {r.stderr.strip()}")
os.remove(big_pkl)

# Self-reference (a dict holding itself under "state_dict") and deep nesting (100,000 lists in lists) are
# data, not recursion: both read as a state dict without tensors.
self_ref = b"\x80\x02}q\x00X\x0a\x00\x00\x00state_dicth\x00s."
deep = b"\x80\x02}X\x01\x00\x00\x00x" + b"]" * 100000 + b"a" * 99999 + b"s."
for name, pkl in (("selfref.bin", self_ref), ("deep.bin", deep)):
    p = os.path.join(work, name)
    open(p, "wb").write(pickle_zip(pkl))
    r = run("convert", "--list", p)
    check(r.returncode == 0 and r.stdout.startswith("# 0 tensors"), f"{name}: got {r.returncode}: {r.stderr.strip()}")

print(f"{len(failures)} failed" if failures else "all weight checks passed")
sys.exit(1 if failures else 0)
