#!/usr/bin/env python3
"""Benchmark (not a test): RNA encoder throughput one transcript at a time vs packed ("varlen") batches, on the
NT-v2 at the reduced width of bench_annotation.py (hidden 128, 2 layers, 4 heads, intermediate 512, 4,107
tokens; random weights). N random sequences of 100 to 1,000 tokens (--lengths), the same inputs for both; the packed runs
use forwards of at most --budget tokens. Prints seconds, GFLOP/s (iso_esm_flops) and the GEMM-only rate of each,
per repeat, with the sgemm rate of the CPU backend measured in the same run.

  bench/bench_packed.py BUILD_DIR [--n 32] [--budget 8192] [--repeats 3] [--lengths 100 1000]"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

from scratch import scratch_dir

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "parity"))
import refmodels as rm  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--n", type=int, default=32)
ap.add_argument("--budget", type=int, default=8192)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--lengths", type=int, nargs=2, default=[100, 1000], help="token lengths drawn from [MIN, MAX]")
args = ap.parse_args()
driver = os.path.join(args.build, "tests", "parity", "model_driver")
work = scratch_dir("isoformer-bench-packed-")
torch.manual_seed(0)
rng = np.random.default_rng(0)

nt = rm.make_nt(hidden=128, layers=2, heads=4, inter=512)
wpath, cpath, spath = (os.path.join(work, n) for n in ("nt.bin", "config.json", "seqs.txt"))
torch.save({"esm." + k: v for k, v in nt.state_dict().items()}, wpath)
rm.write_config(cpath, rm.config_fields("nt_", nt))
with open(spath, "w") as f:
    for n in rng.integers(args.lengths[0], args.lengths[1] + 1, args.n):
        f.write(" ".join(map(str, [3] + list(rng.integers(6, 4107, n - 1)))) + "\n")

sgemm = float(subprocess.run([driver, "sgemm", "1024", "10"], capture_output=True, text=True, check=True).stdout)
r = subprocess.run([driver, "nt-bench", wpath, cpath, "esm.", spath, str(args.budget), str(args.repeats)],
                   capture_output=True, text=True)
if r.returncode != 0:
    sys.exit(r.stderr)
print(r.stdout, end="")
print(f"sgemm 1024^3 of our CPU backend (same run): {sgemm:.1f} GFLOP/s; {os.cpu_count()} cores")
