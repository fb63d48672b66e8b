"""isoformer quant on simulated reads with known truth (simulate_rnaseq.py): Spearman vs the true TPM must be
high, the EM's counts must add up to the assigned fragments and converge (-v), the detected library type must be
unstranded (wgsim draws both strands) and fr / rf on stranded subsets, whose coverage splits by strand; the
output is byte-identical for 1 and 3 threads (two contigs read in parallel); bootstrap replicates are read back
as tximport reads them, and a failed commit leaves none of their directories; CRAM decodes with --reference and
names the reference when it is missing; a 100 Mb skip past the contig end is harmless; and bad inputs (unsorted,
unindexed, contigs not in the annotation) fail cleanly, leaving nothing behind.
Usage: test_quant.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import csv
import os
import shutil
import subprocess
import sys

import numpy as np
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

# The EM converged, and says so.
conv = subprocess.run([*base, "--bam", f"{work}/sim.bam", "--out", f"{work}/conv", "-v"], capture_output=True, text=True)
it = int(conv.stderr.split("EM ")[1].split(" iterations")[0]) if conv.returncode == 0 else -1
change = float(conv.stderr.split("final relative change ")[1].split(")")[0]) if conv.returncode == 0 else 1
check(0 < it < 10000 and change < 1e-3, f"EM did not converge: {it} iterations, change {change}")

# Threads: two contigs (the simulation and a renamed copy, its reads renamed too) read in parallel must give
# the same bytes as one thread, bootstraps included.
import gzip
import json
gtf2 = f"{work}/two.gtf"
with open(gtf2, "w") as o:
    for line in open(f"{data}/annotation.gtf"):
        o.write(line.replace("chr20\t", "20\t", 1))
        o.write(line.replace("chr20\t", "20copy\t", 1).replace('transcript_id "', 'transcript_id "copy_'))
sam = subprocess.run(["samtools", "view", "-h", f"{work}/sim.bam"], capture_output=True, text=True, check=True).stdout
head = [l for l in sam.splitlines() if l.startswith("@")]
recs = [l for l in sam.splitlines() if not l.startswith("@")]
sq = next(l for l in head if l.startswith("@SQ"))
with open(f"{work}/two.sam", "w") as o:
    o.write("\n".join(head + [sq.replace("SN:20\t", "SN:20copy\t")]) + "\n")
    for rec in recs:
        o.write(rec + "\n")
    for rec in recs:
        f = rec.split("\t")
        f[0] += "c"
        f[2] = "20copy" if f[2] == "20" else f[2]
        o.write("\t".join(f) + "\n")
subprocess.run(["samtools", "sort", "-o", f"{work}/two.bam", f"{work}/two.sam"], check=True, capture_output=True)
subprocess.run(["samtools", "index", f"{work}/two.bam"], check=True)
outs = {}
for threads in ("1", "3"):
    os.makedirs(f"{work}/t{threads}", exist_ok=True)
    r = subprocess.run([iso, "quant", "--gtf", gtf2, "--bam", f"{work}/two.bam", "--out", f"{work}/t{threads}/q",
                        "-@", threads, "--num-bootstraps", "20", "-c"], capture_output=True, text=True)
    check(r.returncode == 0, f"quant -@ {threads}: {r.stderr}")
    outs[threads] = [open(f"{work}/t{threads}/{f}", "rb").read() for f in
                     ("q.quant.sf", "q.genes.tsv", "q.coverage.bw", "aux_info/bootstrap/bootstraps.gz")]
check(outs["1"] == outs["3"], "1 and 3 threads differ")
# The bootstraps as tximport reads them: meta_info.json's counts, then num_targets x num_bootstraps doubles.
meta = json.load(open(f"{work}/t3/aux_info/meta_info.json"))
check(os.path.exists(f"{work}/t3/cmd_info.json"), "no cmd_info.json (tximport needs it)")
boots = np.frombuffer(gzip.open(f"{work}/t3/aux_info/bootstrap/bootstraps.gz").read(), dtype="<f8")
rows = list(csv.DictReader(open(f"{work}/t3/q.quant.sf"), delimiter="\t"))
names = gzip.open(f"{work}/t3/aux_info/bootstrap/names.tsv.gz", "rt").read().rstrip("\n").split("\t")
check(meta["num_bootstraps"] == 20 and meta["num_targets"] == len(rows) and boots.size == 20 * len(rows),
      f"bootstrap layout: {meta}, {boots.size} values")
check(names == [row["Name"] for row in rows], "names.tsv.gz is not quant.sf's order")
if boots.size == 20 * len(rows):
    reps = boots.reshape(20, len(rows))
    est = np.array([float(row["NumReads"]) for row in rows])
    sd = reps.std(axis=0)
    check(np.all(np.abs(reps.mean(axis=0) - est) <= 4 * sd / np.sqrt(20) + 0.5 + 0.01 * est),
          "bootstrap means far from the estimate")
    check(np.all(sd[est > 100] > 0) and np.allclose(reps.sum(axis=1), est.sum(), rtol=0.02),
          "bootstraps without spread, or not resampling the same total")
    print(f"bootstrap: 20 replicates, relative sd of the largest transcript {sd[est.argmax()] / est.max():.3f}")
# aux_info/ belongs to the directory (salmon's layout): a second sample's bootstraps there are refused, and leave
# the first's and nothing of the second (they silently replaced the first's)
before = open(f"{work}/t3/aux_info/bootstrap/bootstraps.gz", "rb").read()
r = subprocess.run([iso, "quant", "--gtf", gtf2, "--bam", f"{work}/two.bam", "--out", f"{work}/t3/other",
                    "--num-bootstraps", "5"], capture_output=True, text=True)
check(r.returncode != 0 and "holds the bootstraps of sample 'q'" in r.stderr and
      open(f"{work}/t3/aux_info/bootstrap/bootstraps.gz", "rb").read() == before and
      not [f for f in os.listdir(f"{work}/t3") if f.startswith("other.")],
      f"a second sample's bootstraps in the same directory: exit {r.returncode}, {r.stderr.strip()[-200:]}")
# A failure at the commit (quant.sf's path is a directory, so its rename fails after every file was written)
# leaves nothing: the aux_info/bootstrap/ directories made for the bootstraps stayed behind, empty.
os.makedirs(f"{work}/late/q.quant.sf")
r = subprocess.run([*base, "--bam", f"{work}/sim.bam", "--out", f"{work}/late/q", "--num-bootstraps", "2",
                    "--coverage"], capture_output=True, text=True)
left = sorted(os.path.relpath(os.path.join(d, f), f"{work}/late") for d, ds, fs in os.walk(f"{work}/late")
              for f in ds + fs)
check(r.returncode == 1 and "q.quant.sf" in r.stderr and left == ["q.quant.sf"],
      f"a failed commit left {left}: exit {r.returncode}, {r.stderr.strip()[-200:]}")

# CRAM: decoded with --reference; without it (and no REF_PATH to find one) the message names the fix.
with gzip.open(f"{data}/genome.fa.gz", "rt") as g, open(f"{work}/ref.fa", "w") as o:
    o.write(g.read())
subprocess.run(["samtools", "faidx", f"{work}/ref.fa"], check=True)
subprocess.run(["samtools", "view", "-C", "-T", f"{work}/ref.fa", "-o", f"{work}/sim.cram", f"{work}/sim.bam"],
               check=True)
subprocess.run(["samtools", "index", f"{work}/sim.cram"], check=True)
for ext in ("", ".fai"):  # the header's UR names ref.fa: moved, so only --reference finds it
    os.rename(f"{work}/ref.fa{ext}", f"{work}/moved.fa{ext}")
r = subprocess.run([*base, "--bam", f"{work}/sim.cram", "--reference", f"{work}/moved.fa", "--out", f"{work}/cram"],
                   capture_output=True, text=True)
check(r.returncode == 0 and open(f"{work}/cram.quant.sf").read() == open(f"{work}/conv.quant.sf").read(),
      f"CRAM with --reference differs from the BAM: {r.stderr}")
env = {**os.environ, "REF_PATH": f"{work}/no-such-dir/%s", "REF_CACHE": f"{work}/no-such-cache/%s"}
r = subprocess.run([*base, "--bam", f"{work}/sim.cram", "--out", f"{work}/badcram"], capture_output=True, text=True,
                   env=env)
check(r.returncode == 1 and "--reference" in r.stderr, f"CRAM without its reference: {r.returncode} {r.stderr}")
check(not [f for f in os.listdir(work) if f.startswith("badcram")], "outputs left after the CRAM failure")
# A --reference that is not there: refused once, by name (each reader's hts_set_fai_filename leaked htslib's
# reference list, which a sanitizer build reports), and for a BAM too (it was ignored without a word).
for bam in ("sim.cram", "sim.bam"):
    r = subprocess.run([*base, "--bam", f"{work}/{bam}", "--reference", f"{work}/no-such.fa", "--out",
                        f"{work}/badref"], capture_output=True, text=True)
    check(r.returncode == 1 and "no-such.fa" in r.stderr and "LeakSanitizer" not in r.stderr,
          f"{bam} with a missing --reference: exit {r.returncode}, {r.stderr.strip()[-300:]}")
check(not [f for f in os.listdir(work) if f.startswith("badref")], "outputs left after a missing --reference")

# A skip past the contig end (100 Mb N on this 1.5 Mb contig) with --coverage: counted, and no error.
with open(f"{work}/skip.sam", "w") as o:
    o.write("\n".join(head) + "\n")
    o.write("huge\t0\t20\t1001\t60\t36M100000000N36M\t*\t0\t0\t" + "A" * 72 + "\t" + "I" * 72 + "\n")
    for rec in recs:
        o.write(rec + "\n")
subprocess.run(["samtools", "sort", "-o", f"{work}/skip.bam", f"{work}/skip.sam"], check=True, capture_output=True)
subprocess.run(["samtools", "index", f"{work}/skip.bam"], check=True)
r = subprocess.run([*base, "--bam", f"{work}/skip.bam", "--out", f"{work}/skip", "--coverage"], capture_output=True,
                   text=True)
check(r.returncode == 0 and os.path.exists(f"{work}/skip.coverage.bw"), f"100 Mb skip: {r.stderr}")

# Transcripts on a contig the BAM lacks: quantified as 0, with a warning naming it.
with open(f"{work}/extra.gtf", "w") as o:
    o.write(open(f"{data}/annotation.gtf").read())
    o.write('chrUn\tx\texon\t1\t500\t.\t+\t.\tgene_id "G"; transcript_id "T_un";\n')
r = subprocess.run([iso, "quant", "--gtf", f"{work}/extra.gtf", "--chrom-alias", f"{data}/chromAlias.txt", "--bam",
                    f"{work}/sim.bam", "--out", f"{work}/extra"], capture_output=True, text=True)
check(r.returncode == 0 and "contigs the BAM header lacks (e.g. 'chrUn')" in r.stderr, f"missing contig: {r.stderr}")

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
