#!/usr/bin/env python3
"""Benchmark (not a test): isoformer variants' reuse path against the naive path (--no-reuse: two full
predictions, reference and alternative, every encoder, per allele and transcript) on the same job, in one run.

The job: N seeded random alleles around BCAS1 on test-data (real GRCh37 sequence and isoforms), in proportions
a whole-genome VCF would not have but that exercise every path: promoter and intronic (DNA window only),
UTR (DNA and RNA), CDS (RNA and protein; SNVs and indels), and far (nothing). Both paths write byte-identical
tables (checked). Prints, per path and repeat, seconds, variants/s and allele-transcript pairs/s, and the
speed-up of the reuse path per repeat; a warm-up run of each comes first.

  bench/bench_variants.py BUILD_DIR [--model test-data/demo-model] [--window N] [--n 60] [--threads 1]
                                    [--repeats 3] [--device cpu]

With the demo model (reduced width) the encoders' relative costs are not the published model's: pass
--model DIR with the real weights, and --device cuda, for representative figures."""
import argparse
import gzip
import os
import random
import re
import subprocess
import sys
import time

from scratch import scratch_dir

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "test-data")
ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--model", default=os.path.join(data, "demo-model"))
ap.add_argument("--window", type=int, default=0, help="DNA window (0: the model's)")
ap.add_argument("--n", type=int, default=60)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--device", default="cpu")
args = ap.parse_args()
iso = os.path.join(args.build, "plugin", "isoformer")
work = scratch_dir("isoformer-bench-variants-")

seq = "".join(l.strip().upper() for l in gzip.open(os.path.join(data, "genome.fa.gz"), "rt") if not l.startswith(">"))
exons, cds = [], []
for line in open(os.path.join(data, "annotation.gtf")):
    f = line.split("\t")
    if len(f) > 8 and f[2] in ("exon", "CDS"):
        (exons if f[2] == "exon" else cds).append((int(f[3]) - 1, int(f[4])))
tss = max(e for _, e in exons)
rng = random.Random(2024)


def pick(kind):
    if kind == "promoter":
        return tss + rng.randint(50, 1500)
    if kind == "intron":
        a = rng.randint(tss - 2000, tss - 500)
        return a if not any(s - 10 <= a < e + 10 for s, e in exons) else None
    if kind == "cds":
        s, e = rng.choice(cds)
        return rng.randint(s + 3, e - 4)
    if kind == "utr":
        return rng.randint(tss - 300, tss - 20)
    return rng.randint(100000, 400000)  # far: no transcript within reach


records = set()
kinds = ["promoter", "intron", "cds", "cds", "utr", "far"]
while len(records) < args.n:
    p = pick(rng.choice(kinds))
    if p is None:
        continue
    r = rng.random()
    if r < 0.7:
        rec = (p + 1, seq[p], rng.choice([b for b in "ACGT" if b != seq[p]]))
    elif r < 0.85:
        rec = (p, seq[p - 1:p + 2], seq[p - 1])  # 2-base deletion after the anchor
    else:
        rec = (p, seq[p - 1], seq[p - 1] + "".join(rng.choice("ACGT") for _ in range(rng.choice([1, 3]))))
    records.add(rec)
vcf = os.path.join(work, "bench.vcf")
with open(vcf, "w") as f:
    f.write("##fileformat=VCFv4.2\n##contig=<ID=20,length=%d>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" % len(seq))
    for pos, ref, alt in sorted(records):
        f.write(f"20\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\n")


def run(tag, extra):
    out = os.path.join(work, tag)
    cmd = [iso, "variants", "--model", args.model, "--fasta", os.path.join(data, "genome.fa.gz"),
           "--gtf", os.path.join(data, "annotation.gtf"), "--chrom-alias", os.path.join(data, "chromAlias.txt"),
           "--vcf", vcf, "--device", args.device, "--threads", str(args.threads), "-v", "--out", out, *extra]
    if args.window:
        cmd += ["--window", str(args.window)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{tag}: {r.stderr}")
    pairs = int(re.search(r"(\d+) allele-transcript pairs", r.stderr).group(1))
    return dt, pairs, open(out + ".variants.tsv").read(), r.stderr


print(f"isoformer variants: {args.n} alleles (seeded, around BCAS1 on test-data), model {args.model}, "
      f"{args.device}, {args.threads} thread(s), window {args.window or 'of the model'}")
for tag, extra in (("reuse", []), ("naive", ["--no-reuse"])):
    run(tag, extra)  # warm-up: page cache, FASTA index
speedups = []
for k in range(args.repeats):
    t_reuse, pairs, table_reuse, log = run("reuse", [])
    t_naive, _, table_naive, _ = run("naive", ["--no-reuse"])
    if table_reuse != table_naive:
        sys.exit("the two paths wrote different tables")
    speedups.append(t_naive / t_reuse)
    for tag, t in (("reuse", t_reuse), ("naive", t_naive)):
        print(f"  repeat {k + 1} {tag:5s}: {t:7.2f} s  {args.n / t:7.2f} variants/s  {pairs / t:7.2f} pairs/s")
print(log.strip().splitlines()[-1])
print(f"reuse path speed-up over two full predictions per variant: {min(speedups):.2f}x to {max(speedups):.2f}x "
      f"({pairs} allele-transcript pairs; identical outputs)")
