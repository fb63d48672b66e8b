"""isoformer quant on simulated reads with known truth (simulate_rnaseq.py): Spearman vs the true TPM must be
high, the EM's counts must add up to the assigned fragments, the detected library type must be unstranded
(wgsim draws both strands) and fr / rf on stranded subsets, whose coverage splits by strand, and bad inputs (unsorted, unindexed, contigs not in the annotation) fail cleanly.
Usage: test_quant.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import csv
import os
import shutil
import subprocess
import sys

from scipy.stats import spearmanr

iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
here = os.path.dirname(os.path.abspath(__file__))
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


subprocess.run([sys.executable, f"{here}/simulate_rnaseq.py", iso, data, work, "20000", "11"], check=True)
truth = {r["transcript_id"]: float(r["tpm"]) for r in csv.DictReader(open(f"{work}/truth.tsv"), delimiter="\t")}
base = [iso, "quant", "--gtf", f"{data}/annotation.gtf", "--chrom-alias", f"{data}/chromAlias.txt"]
r = subprocess.run([*base, "--bam", f"{work}/sim.bam", "--out", f"{work}/q", "-v"], capture_output=True, text=True)
check(r.returncode == 0, f"quant: {r.stderr}")
print(r.stderr.strip())
rows = list(csv.DictReader(open(f"{work}/q.quant.sf"), delimiter="\t"))
check([*rows[0].keys()] == ["Name", "Length", "EffectiveLength", "TPM", "NumReads"], "quant.sf columns")
est = {row["Name"]: float(row["TPM"]) for row in rows}
rho = spearmanr([truth[t] for t in truth], [est[t] for t in truth]).correlation
print(f"Spearman vs truth over {len(truth)} transcripts: {rho:.3f}")
check(rho > 0.85, f"Spearman vs truth {rho:.3f} <= 0.85")
check(abs(sum(est.values()) - 1e6) < 1, "TPM do not sum to 1e6")
assigned = float(r.stderr.split("(weight ")[1].split(")")[0]) if r.returncode == 0 else -1
check(abs(sum(float(row["NumReads"]) for row in rows) - assigned) < 0.1 + 1e-6 * assigned, "NumReads do not sum to the assigned weight")
check("library none" in r.stderr, "simulated unstranded library not detected as such")
genes = list(csv.DictReader(open(f"{work}/q.genes.tsv"), delimiter="\t"))
check(len(genes) == 1 and abs(float(genes[0]["TPM"]) - 1e6) < 1, "gene table")

# Coverage track vs bedtools genomecov -split on the uniquely aligned reads (genomecov counts every alignment
# fully, quant weighs multi-mappers 1/NH), scaled per million assigned fragments.
subprocess.run(["samtools", "view", "-b", "-d", "NH:1", "-o", f"{work}/uniq.bam", f"{work}/sim.bam"], check=True)
subprocess.run(["samtools", "index", f"{work}/uniq.bam"], check=True)
r = subprocess.run([*base, "--bam", f"{work}/uniq.bam", "--out", f"{work}/u", "--coverage", "-v"], capture_output=True,
                   text=True)
check(r.returncode == 0, f"quant --coverage: {r.stderr}")
weight = float(r.stderr.split("(weight ")[1].split(")")[0]) if r.returncode == 0 else 1
g = subprocess.run(["bedtools", "genomecov", "-ibam", f"{work}/uniq.bam", "-bg", "-split"], capture_output=True,
                   text=True, check=True)
from bx.bbi.bigwig_file import BigWigFile
import numpy as np
with open(f"{work}/u.coverage.bw", "rb") as fh:
    bw = BigWigFile(file=fh)
    bases = bad = 0
    for line in g.stdout.splitlines():
        chrom, s0, e0, depth = line.split("\t")
        vals = bw.get_as_array(chrom.encode(), int(s0), int(e0))
        want = float(depth) * 1e6 / weight
        bases += int(e0) - int(s0)
        bad += int(np.sum(np.abs(vals - want) > 1e-3 * want))
check(bases > 0 and bad == 0, f"coverage differs from bedtools genomecov at {bad} of {bases} bases")
print(f"coverage: {bases} covered bases equal to bedtools genomecov -split")

# Stranded libraries, made from the simulation by keeping the pairs whose read 1 is antisense to the genome (BCAS1
# is on '-', so read 1 is sense to the RNA: fr) or sense (rf). The library type must be detected, every transcript
# still quantified against truth, and the coverage split by the RNA's strand: all of it on '-', none on '+'.
minus = {line.split("\t")[6] for line in open(f"{data}/annotation.gtf") if "\texon\t" in line} == {"-"}
check(minus, "the test expects every annotated transcript on '-'")
sense = "(flag.read1 && flag.reverse) || (flag.read2 && !flag.reverse)"
for lib, expr in (("fr", sense), ("rf", f"!({sense})")):
    bam = f"{work}/{lib}.bam"
    subprocess.run(["samtools", "view", "-b", "-e", expr, "-o", bam, f"{work}/uniq.bam"], check=True)
    subprocess.run(["samtools", "index", bam], check=True)
    r = subprocess.run([*base, "--bam", bam, "--out", f"{work}/{lib}", "--coverage", "-v"], capture_output=True,
                       text=True)
    check(r.returncode == 0 and f"library {lib} " in r.stderr, f"{lib} library not detected: {r.stderr.strip()}")
    if r.returncode:
        continue
    est = {row["Name"]: float(row["TPM"]) for row in csv.DictReader(open(f"{work}/{lib}.quant.sf"), delimiter="\t")}
    rho = spearmanr([truth[t] for t in truth], [est[t] for t in truth]).correlation
    print(f"{lib} library: Spearman vs truth {rho:.3f}")
    check(rho > 0.85, f"{lib} library: Spearman vs truth {rho:.3f} <= 0.85")
    sums = {}
    for strand in ("plus", "minus"):
        with open(f"{work}/{lib}.coverage.{strand}.bw", "rb") as fh:
            bw = BigWigFile(file=fh)
            vals = bw.get_as_array(b"20", 0, 63025520)
            sums[strand] = float(np.nansum(vals)) if vals is not None else 0.0
    check(sums["minus"] > 0 and sums["plus"] == 0, f"{lib} library: coverage by strand {sums}")
    check(not os.path.exists(f"{work}/{lib}.coverage.bw"), f"{lib} library: an unstranded track too")

# Bad inputs: clear message, no output.
subprocess.run(["samtools", "sort", "-n", "-o", f"{work}/byname.bam", f"{work}/sim.bam"], check=True)
shutil.copy(f"{work}/sim.bam", f"{work}/noindex.bam")
cases = [("byname.bam", "not coordinate-sorted"), ("noindex.bam", "samtools index"),
         ("missing.bam", "missing.bam")]
for name, expect in cases:
    r = subprocess.run([*base, "--bam", f"{work}/{name}", "--out", f"{work}/bad"], capture_output=True, text=True)
    check(r.returncode == 1 and expect in r.stderr, f"{name}: {r.returncode} {r.stderr.strip()}")
r = subprocess.run([iso, "quant", "--gtf", f"{data}/annotation.gtf", "--bam", f"{work}/sim.bam", "--out",
                    f"{work}/bad"], capture_output=True, text=True)
check(r.returncode == 1 and "chrom-alias" in r.stderr, f"contig mismatch: {r.stderr.strip()}")
check(not [f for f in os.listdir(work) if f.startswith("bad")], "outputs left after failures")
print(f"{len(failures)} failed" if failures else "quant checks passed")
sys.exit(1 if failures else 0)
