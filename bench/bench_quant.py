#!/usr/bin/env python3
"""Benchmark (not a test): isoformer quant against the quantifiers Debian ships, on one simulation with known
truth and real isoform structure (bench/make_quant_sim.py: 1,744 real human transcripts, N read pairs).

Peers, each as its authors recommend, on the same reads:
  stringtie -e      the HISAT2 genome BAM isoformer reads (the same input)
  salmon (reads)    selective alignment from the FASTQ (index built beforehand, not timed)
  kallisto (reads)  pseudoalignment from the FASTQ (index built beforehand, not timed)
Printed side by side: wall seconds and peak RSS of each quantification run (wait4's rusage of the process),
and accuracy against the truth: Spearman and mean absolute relative difference (MARD) of estimated fragments,
over all transcripts and over those of multi-isoform genes, with transcripts of identical sequence merged
(salmon's index keeps one of them). isoformer is also run with 1 and N threads, and the two outputs compared.

  bench/bench_quant.py ISOFORMER_BINARY [--pairs N] [--threads T] [--dir DIR]

Needs Debian's salmon, kallisto, stringtie, hisat2, samtools (apt-get install salmon kallisto stringtie). StringTie
reports depth, not fragments: its estimate is cov x length / 150 (two 75 bp reads). The defaults (2 M
pairs) take a while on 2 cores; --pairs 200000 is a quick look. The simulation and the alignments are kept in
DIR (default build-bench-quant/PAIRS) and reused."""
import argparse
import csv
import os
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
from scipy.stats import spearmanr

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("iso")
ap.add_argument("--pairs", type=int, default=2000000)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--dir")
args = ap.parse_args()
iso = os.path.abspath(args.iso)
w = os.path.abspath(args.dir or os.path.join(here, "..", "build-bench-quant", str(args.pairs)))
os.makedirs(w, exist_ok=True)
T = str(args.threads)


def timed(cmd, **kw):
    """Runs cmd; returns (wall seconds, peak RSS MB) of the process and its children."""
    t = time.time()
    p = subprocess.Popen(cmd, stdout=kw.pop("stdout", subprocess.DEVNULL), stderr=subprocess.PIPE, **kw)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed: {err.decode()[-2000:]}")
    return time.time() - t, ru.ru_maxrss / 1024


def step(done, *cmd, **kw):
    if not os.path.exists(done):
        subprocess.run(cmd, check=True, stdout=kw.pop("stdout", subprocess.DEVNULL), stderr=subprocess.DEVNULL,
                       **kw)


step(f"{w}/truth.tsv", sys.executable, f"{here}/make_quant_sim.py", w, "--pairs", str(args.pairs))
step(f"{w}/genome.1.ht2", "hisat2-build", "-p", T, "-q", f"{w}/genome.fa", f"{w}/genome")
if not os.path.exists(f"{w}/sim.bam.bai"):
    sam = subprocess.Popen(["hisat2", "-p", T, "--no-unal", "-x", f"{w}/genome", "-1", f"{w}/r1.fq", "-2",
                            f"{w}/r2.fq"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    subprocess.run(["samtools", "sort", "-@", T, "-o", f"{w}/sim.bam", "-"], stdin=sam.stdout, check=True,
                   capture_output=True)
    sam.wait()
    subprocess.run(["samtools", "index", f"{w}/sim.bam"], check=True)
step(f"{w}/salmon_idx/versionInfo.json", "salmon", "index", "-t", f"{w}/transcripts.fa", "-i", f"{w}/salmon_idx",
     "-p", T, "--keepDuplicates")
step(f"{w}/kallisto.idx", "kallisto", "index", "-i", f"{w}/kallisto.idx", f"{w}/transcripts.fa")

truth = {r["transcript_id"]: r for r in csv.DictReader(open(f"{w}/truth.tsv"), delimiter="\t")}
gene_size = defaultdict(int)
for r in truth.values():
    gene_size[r["gene_id"]] += 1
# transcripts of identical sequence are one unit
seqs, name = {}, None
for line in open(f"{w}/transcripts.fa"):
    if line.startswith(">"):
        name = line[1:].strip()
    else:
        seqs[name] = line.strip()
unit = {}
first = {}
for t in sorted(seqs):
    unit[t] = first.setdefault(seqs[t], t)


def scores(est):
    true_f, est_f, multi = defaultdict(float), defaultdict(float), {}
    for t, r in truth.items():
        true_f[unit[t]] += float(r["fragments"])
        est_f[unit[t]] += est.get(t, 0.0)
        multi[unit[t]] = gene_size[r["gene_id"]] > 1
    ids = sorted(true_f)
    out = []
    for sel in (ids, [u for u in ids if multi[u]]):
        x, y = np.array([true_f[u] for u in sel]), np.array([est_f[u] for u in sel])
        rho = spearmanr(x, y).correlation
        mard = np.mean(np.where(x + y > 0, np.abs(x - y) / np.maximum(x + y, 1e-300), 0))
        out += [rho, mard]
    return out


def table(path, id_col, col):
    return {r[id_col]: float(r[col]) for r in csv.DictReader(open(path), delimiter="\t")}


rows = []
for threads in ("1", T):
    prefix = f"{w}/iso{threads}/q"
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    t, rss = timed([iso, "quant", "-@", threads, "--bam", f"{w}/sim.bam", "--gtf", f"{w}/annotation.gtf", "--out",
                    prefix, "-v"])
    rows.append((f"isoformer quant -@{threads}", t, rss, scores(table(f"{prefix}.quant.sf", "Name", "NumReads"))))
same = open(f"{w}/iso1/q.quant.sf").read() == open(f"{w}/iso{T}/q.quant.sf").read()
t, rss = timed(["stringtie", f"{w}/sim.bam", "-e", "-G", f"{w}/annotation.gtf", "-p", T, "-o", f"{w}/st.gtf"])
est = {}
for line in open(f"{w}/st.gtf"):
    f = line.split("\t")
    if len(f) > 8 and f[2] == "transcript":
        tid = f[8].split('transcript_id "')[1].split('"')[0]
        cov = float(f[8].split('cov "')[1].split('"')[0])  # mean per-base read depth
        est[tid] = cov * len(seqs[tid]) / (2 * 75)  # depth x length / bases per fragment: fragments
rows.append(("stringtie -e", t, rss, scores(est)))
t, rss = timed(["salmon", "quant", "-i", f"{w}/salmon_idx", "-l", "A", "-1", f"{w}/r1.fq", "-2", f"{w}/r2.fq",
                "-p", T, "--validateMappings", "-o", f"{w}/salmon"])
rows.append(("salmon (reads)", t, rss, scores(table(f"{w}/salmon/quant.sf", "Name", "NumReads"))))
t, rss = timed(["kallisto", "quant", "-i", f"{w}/kallisto.idx", "-o", f"{w}/kallisto", "-t", T, f"{w}/r1.fq",
                f"{w}/r2.fq"])
rows.append(("kallisto (reads)", t, rss, scores(table(f"{w}/kallisto/abundance.tsv", "target_id", "est_counts"))))

print(f"quantification vs truth: {len(truth)} transcripts ({len(set(unit.values()))} distinct sequences), "
      f"{args.pairs} read pairs, {T} threads for the peers; measured in one run on this machine")
print(f"{'tool':22s} {'wall s':>7s} {'peak MB':>8s} {'Spearman':>9s} {'MARD':>6s} {'multi-iso Spearman':>19s} "
      f"{'MARD':>6s}")
for name, t, rss, s in rows:
    print(f"{name:22s} {t:7.2f} {rss:8.1f} {s[0]:9.4f} {s[1]:6.3f} {s[2]:19.4f} {s[3]:6.3f}")
st = next(r for r in rows if r[0] == "stringtie -e")
ours = rows[1]
print(f"isoformer -@{T} wall / stringtie -e wall: {ours[1] / st[1]:.2f}; identical output for 1 and {T} threads: "
      f"{'yes' if same else 'NO'}")
