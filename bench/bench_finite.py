#!/usr/bin/env python3
"""Benchmark (not a test): the non-finite check every weight gets when a model loads (core/weights/finite.c),
on N MiB of float32 in memory (the published model is 2.8 GB), against:
  - PyTorch's torch.isfinite(t).all() (one thread), the strongest fair baseline for "is any value NaN/Inf";
  - a plain streaming read of the same memory (an OR over its words in C: the memory-bandwidth bound);
  - the weights checksum pass model loading already makes (iso_weights_checksum), for scale.
Best of --repeats after a warm-up. The driver is compiled here (-O3, as a Release build) against BUILD_DIR's
libisoformer_core.a (configure BUILD_DIR with -DCMAKE_BUILD_TYPE=Release).

  bench/bench_finite.py BUILD_DIR [--mib 1024] [--repeats 5]"""
import argparse
import os
import subprocess
import time

import torch

from scratch import scratch_dir

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--mib", type=int, default=1024)
ap.add_argument("--repeats", type=int, default=5)
args = ap.parse_args()
src = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(src)
driver = os.path.join(scratch_dir("bench_finite."), "bench_finite")
libs = subprocess.run(["pkg-config", "--libs", "htslib", "jansson"], capture_output=True, text=True,
                      check=True).stdout.split()
subprocess.run(["cc", "-O3", "-fopenmp-simd", "-fno-trapping-math", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-I", os.path.join(root, "core", "include"),
                "-I", os.path.join(root, "core"), os.path.join(src, "bench_finite.c"),
                os.path.join(args.build, "core", "libisoformer_core.a"), *libs, "-lBigWig", "-lopenblas", "-lz",
                "-lm", "-lpthread", "-o", driver], check=True)
out = subprocess.run([driver, str(args.mib), str(args.repeats)], capture_output=True, text=True, check=True).stdout
ours = {k: float(v) for k, v in (line.split() for line in out.splitlines())}

torch.set_num_threads(1)
x = torch.rand(args.mib << 18, dtype=torch.float32)
best = float("inf")
for r in range(args.repeats + 1):
    t0 = time.perf_counter()
    ok = bool(torch.isfinite(x).all())
    dt = time.perf_counter() - t0
    if r:
        best = min(best, dt)
assert ok
gb = (args.mib << 20) / 1e9
print(f"{args.mib} MiB of float32, best of {args.repeats}:")
for name, t in (("isoformer check (finite.c)", ours["check"]), ("torch.isfinite(t).all(), 1 thread", best),
                ("streaming read (bandwidth bound)", ours["read"]), ("weights checksum pass", ours["checksum"])):
    print(f"  {name:36s} {t * 1e3:8.1f} ms  {gb / t:6.1f} GB/s")
print(f"ratio: torch / ours {best / ours['check']:.1f}x; ours / streaming read {ours['check'] / ours['read']:.2f}x; "
      f"ours / checksum pass {ours['check'] / ours['checksum']:.2f}x")
print(f"the published model's 2.8 GB: about {2.8 / (gb / ours['check']):.2f} s for the check")
