#!/usr/bin/env python3
"""Benchmark (not a test): isoformer quant vs salmon (alignment mode) and StringTie -e on reads simulated with
known truth from the test annotation (tests/cli/simulate_rnaseq.py: wgsim + HISAT2), several seeds, in one run.
Prints Spearman and mean absolute log2 error of TPM vs truth, and run time, per tool.

  bench/bench_quant.py ISOFORMER_BINARY [--pairs N] [--seeds K]

Needs Debian's salmon, stringtie, hisat2, samtools (apt-get install salmon stringtie)."""
import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time

from scipy.stats import spearmanr

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "test-data")
ap = argparse.ArgumentParser()
ap.add_argument("iso")
ap.add_argument("--pairs", type=int, default=100000)
ap.add_argument("--seeds", type=int, default=5)
args = ap.parse_args()


def run(*cmd, **kw):
    t = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.time() - t


def scores(truth, est):
    ids = sorted(truth)
    rho = spearmanr([truth[t] for t in ids], [est.get(t, 0.0) for t in ids]).correlation
    err = sum(abs(math.log2(est.get(t, 0.0) + 1) - math.log2(truth[t] + 1)) for t in ids) / len(ids)
    return rho, err


results = {"isoformer quant": [], "salmon -a": [], "stringtie -e": []}
for seed in range(1, args.seeds + 1):
    w = tempfile.mkdtemp(prefix=f"bench-quant-{seed}-")
    subprocess.run([sys.executable, os.path.join(here, "..", "tests", "cli", "simulate_rnaseq.py"), args.iso, data, w,
                    str(args.pairs), str(seed)], check=True)
    truth = {r["transcript_id"]: float(r["tpm"]) for r in csv.DictReader(open(f"{w}/truth.tsv"), delimiter="\t")}
    # ours
    t = run(args.iso, "quant", "--bam", f"{w}/sim.bam", "--gtf", f"{data}/annotation.gtf", "--chrom-alias",
            f"{data}/chromAlias.txt", "--out", f"{w}/iso")
    est = {r["Name"]: float(r["TPM"]) for r in csv.DictReader(open(f"{w}/iso.quant.sf"), delimiter="\t")}
    results["isoformer quant"].append((*scores(truth, est), t))
    # StringTie -e on the same genome BAM (annotation with the BAM's contig name)
    gtf20 = f"{w}/ann20.gtf"
    with open(f"{data}/annotation.gtf") as f, open(gtf20, "w") as o:
        for line in f:
            o.write(line.replace("chr20\t", "20\t", 1))
    t = run("stringtie", f"{w}/sim.bam", "-e", "-G", gtf20, "-o", f"{w}/st.gtf")
    est = {}
    for line in open(f"{w}/st.gtf"):
        f = line.split("\t")
        if len(f) > 8 and f[2] == "transcript":
            est[f[8].split('transcript_id "')[1].split('"')[0]] = float(f[8].split('TPM "')[1].split('"')[0])
    results["stringtie -e"].append((*scores(truth, est), t))
    # salmon alignment mode needs alignments to the transcriptome: HISAT2 on the transcript sequences
    run("hisat2-build", "-q", f"{w}/tx.rna.fa", f"{w}/txidx")
    with open(f"{w}/tx.sam", "w") as sam:
        subprocess.run(["hisat2", "-p", "2", "--no-spliced-alignment", "--no-softclip", "-k", "50", "--no-unal",
                        "-x", f"{w}/txidx", "-1", f"{w}/r1.fq", "-2", f"{w}/r2.fq"], stdout=sam,
                       stderr=subprocess.DEVNULL, check=True)
    t = run("salmon", "quant", "-t", f"{w}/tx.rna.fa", "-l", "A", "-a", f"{w}/tx.sam", "-p", "2", "-o", f"{w}/salmon")
    est = {r["Name"]: float(r["TPM"]) for r in csv.DictReader(open(f"{w}/salmon/quant.sf"), delimiter="\t")}
    results["salmon -a"].append((*scores(truth, est), t))

print(f"quantification vs truth: {args.seeds} simulations x {args.pairs} read pairs from the 7 BCAS1 isoforms")
print(f"{'tool':18s} {'Spearman':>9s} {'|log2 err|':>11s} {'seconds':>8s}")
for tool, rs in results.items():
    n = len(rs)
    print(f"{tool:18s} {sum(r[0] for r in rs) / n:9.3f} {sum(r[1] for r in rs) / n:11.3f} "
          f"{sum(r[2] for r in rs) / n:8.2f}")
