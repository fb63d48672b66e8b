"""Simulated paired-end RNA-seq with known truth, from the test annotation: each transcript gets a random
abundance; wgsim (Debian's samtools package) draws read pairs from its spliced sequence in proportion to
abundance x (length - fragment + 1); HISAT2 aligns them back to the genome; samtools sorts and indexes.
Writes OUT/sim.bam(.bai) and OUT/truth.tsv (transcript_id, true TPM, reads drawn).
Usage: simulate_rnaseq.py ISOFORMER_BINARY TEST_DATA OUT [N_PAIRS] [SEED]"""
import gzip
import os
import subprocess
import sys

import numpy as np

iso, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
n_pairs = int(sys.argv[4]) if len(sys.argv) > 4 else 40000
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 7
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(seed)
FRAG, SD, READ = 250, 25, 72


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


run(iso, "extract", "--fasta", f"{data}/genome.fa.gz", "--gtf", f"{data}/annotation.gtf", "--chrom-alias",
    f"{data}/chromAlias.txt", "--window", "2", "--out", f"{out}/tx")
seqs = {}
for block in open(f"{out}/tx.rna.fa").read().split(">")[1:]:
    name, *lines = block.split("\n")
    seqs[name.split()[0]] = "".join(lines)
ids = sorted(seqs)
abundance = rng.lognormal(0, 1.2, len(ids))
abundance[rng.integers(0, len(ids))] = 0.0  # one isoform not expressed
eff = np.array([max(len(seqs[t]) - FRAG + 1, 1) for t in ids], dtype=float)
weights = abundance * eff
pairs = rng.multinomial(n_pairs, weights / weights.sum())
tpm = abundance / abundance.sum() * 1e6
r1, r2 = open(f"{out}/r1.fq", "w"), open(f"{out}/r2.fq", "w")
for t, n in zip(ids, pairs):
    if n == 0 or len(seqs[t]) < FRAG + 3 * SD:
        continue
    open(f"{out}/one.fa", "w").write(f">{t}\n{seqs[t]}\n")
    run("wgsim", "-N", str(n), "-1", str(READ), "-2", str(READ), "-d", str(FRAG), "-s", str(SD), "-e", "0.002",
        "-r", "0", "-R", "0", "-S", str(seed + len(t)), f"{out}/one.fa", f"{out}/a.fq", f"{out}/b.fq")
    r1.write(open(f"{out}/a.fq").read())
    r2.write(open(f"{out}/b.fq").read())
r1.close()
r2.close()
with gzip.open(f"{data}/genome.fa.gz", "rt") as g:
    open(f"{out}/genome.fa", "w").write(g.read())
run("hisat2-build", "-q", f"{out}/genome.fa", f"{out}/genome")
sam = subprocess.Popen(["hisat2", "-p", "2", "--no-unal", "-x", f"{out}/genome", "-1", f"{out}/r1.fq", "-2",
                        f"{out}/r2.fq"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
subprocess.run(["samtools", "sort", "-o", f"{out}/sim.bam", "-"], stdin=sam.stdout, check=True,
               capture_output=True)
sam.wait()
run("samtools", "index", f"{out}/sim.bam")
with open(f"{out}/truth.tsv", "w") as f:
    f.write("transcript_id\ttpm\tpairs\n")
    for t, v, n in zip(ids, tpm, pairs):
        f.write(f"{t}\t{v:.6f}\t{n}\n")
