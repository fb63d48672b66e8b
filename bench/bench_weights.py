#!/usr/bin/env python3
"""Benchmark (not a test): checkpoint loading speed, ours vs torch.load and the safetensors library, on one
state dict written at run time with torch.save (Enformer-like: shared storages, many keys, float32).

  bench/bench_weights.py BUILD_DIR [--mb 400] [--workdir DIR]

`isoformer convert --list` maps the file, parses the zip directory and the pickle, and checksums every tensor
byte, so its time is that of loading the whole checkpoint. Each reader runs with the file in the page cache
(warm) and after evicting the file's pages with posix_fadvise(DONTNEED) (cold: as fast as the disk allows).
Prints GB/s per reader."""
import argparse
import os
import subprocess
import time

import torch
from safetensors.torch import load_file

from scratch import scratch_dir

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--mb", type=int, default=400)
ap.add_argument("--workdir", default=None)
args = ap.parse_args()
iso = os.path.join(args.build, "plugin", "isoformer")
work = args.workdir or scratch_dir("bench_weights.")
os.makedirs(work, exist_ok=True)

torch.manual_seed(0)
sd, total = {}, 0
i = 0
while total < args.mb << 20:
    t = torch.randn(1536, 1536 if i % 3 else 512)
    sd[f"transformer.{i}.weight"] = t
    sd[f"_trunk.4.{i}.weight"] = t  # registered twice, stored once
    sd[f"transformer.{i}.bias"] = torch.randn(1536)
    total += t.numel() * 4 + 1536 * 4
    i += 1
bin_path = os.path.join(work, "pytorch_model.bin")
torch.save(sd, bin_path)
st_path = os.path.join(work, "model.safetensors")
subprocess.run([iso, "convert", bin_path, st_path], check=True)
size = {p: os.path.getsize(p) for p in (bin_path, st_path)}
print(f"{len(sd)} tensors, .bin {size[bin_path] / 1e6:.0f} MB, .safetensors {size[st_path] / 1e6:.0f} MB")


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def timed(fn, path, cold):
    best = float("inf")
    for _ in range(3):
        if cold:
            evict(path)
        t0 = time.perf_counter()
        fn(path)
        best = min(best, time.perf_counter() - t0)
    return best


def ours(path):
    subprocess.run([iso, "convert", "--list", path], check=True, stdout=subprocess.DEVNULL)


def torch_load(path):
    torch.load(path, map_location="cpu")


def st_load(path):
    load_file(path)


for cold in (False, True):
    for label, fn, path in (("isoformer .bin", ours, bin_path), ("isoformer .safetensors", ours, st_path),
                            ("torch.load .bin", torch_load, bin_path),
                            ("safetensors load_file", st_load, st_path)):
        dt = timed(fn, path, cold)
        print(f"{'cold' if cold else 'warm'}  {label:24s} {dt:7.3f} s  {size[path] / dt / 1e9:6.2f} GB/s")
