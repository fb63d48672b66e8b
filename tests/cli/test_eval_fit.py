"""isoformer eval and fit end to end.
eval: predictions on test-data vs a quantification of simulated reads, and vs a GCT 1.3 that cmapPy writes; every
metric must equal scipy's (spearmanr, pearsonr) and numpy's R^2 on the same vectors, and the plot must be valid SVG.
fit: on embeddings with a planted linear signal (300 transcripts in 100 genes), cross-validated R^2 must beat
the intercept-only baseline and approach the planted signal's share of variance; the head file must apply.
Usage: test_eval_fit.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import csv
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
from cmapPy.pandasGEXpress.GCToo import GCToo
from cmapPy.pandasGEXpress.write_gct import write as write_gct
from scipy.stats import pearsonr, spearmanr

iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
here = os.path.dirname(os.path.abspath(__file__))
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []
A = ["--gtf", f"{data}/annotation.gtf", "--chrom-alias", f"{data}/chromAlias.txt"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    r = subprocess.run([iso, *args], capture_output=True, text=True)
    check(r.returncode == 0, f"{args[0]}: {r.stderr}")
    return r


# ---- eval ----
run("predict", "--model", f"{data}/demo-model", "--fasta", f"{data}/genome.fa.gz", *A, "--out", f"{work}/p",
    "--device", "cpu")
subprocess.run([sys.executable, f"{here}/simulate_rnaseq.py", iso, data, f"{work}/sim", "4000", "3"], check=True)
run("quant", "--bam", f"{work}/sim/sim.bam", *A, "--out", f"{work}/q")
run("eval", "--pred", f"{work}/p.predictions.tsv", "--obs", f"{work}/q.quant.sf", *A, "--out", f"{work}/e")
pred = {r["transcript_id"]: r for r in csv.DictReader(open(f"{work}/p.predictions.tsv"), delimiter="\t")}
obs = {r["Name"]: float(r["TPM"]) for r in csv.DictReader(open(f"{work}/q.quant.sf"), delimiter="\t")}
report = list(csv.DictReader(open(f"{work}/e.eval.tsv"), delimiter="\t"))
check(len(report) == 30, f"{len(report)} report rows, expected one per tissue")
ids = sorted(pred)
for row in report[:5]:
    x = np.array([float(pred[t][row["pred_column"]]) for t in ids])
    y = np.log1p(np.array([obs[t] for t in ids]))
    rho, r = spearmanr(x, y).correlation, pearsonr(x, y)[0]
    r2 = 1 - np.sum((y - x) ** 2) / np.sum((y - y.mean()) ** 2)
    for name, ours, ref in (("spearman", row["spearman"], rho), ("pearson", row["pearson"], r), ("r2", row["r2"], r2)):
        check(abs(float(ours) - ref) < 1e-5 * max(1, abs(ref)), f"{row['pred_column']} {name}: {ours} vs {ref}")
    check(int(row["n"]) == len(ids), "n")
ET.parse(f"{work}/e.eval.svg")  # well-formed
check(b"<circle" in open(f"{work}/e.eval.svg", "rb").read(), "no points in the plot")
svg = open(f"{work}/e.eval.svg").read()
check("30 pairs" in svg and "highest, median and lowest Spearman" in svg and svg.count('class="summary-spearman"') == 30,
      "the plot does not say which pairs it shows, or does not summarise all 30")
# A StringTie t_data.ctab whose FPKM are all 0: TPM 0 everywhere, metrics undefined: NA, never nan or inf.
with open(f"{work}/zero.ctab", "w") as o:
    o.write("t_id\tchr\tstrand\tstart\tend\tt_name\tnum_exons\tlength\tgene_id\tgene_name\tcov\tFPKM\n")
    for k, t in enumerate(ids):
        o.write(f"{k + 1}\tchr20\t-\t1\t100\t{t}\t2\t1000\t8537\tBCAS1\t0.0\t0.000000\n")
run("eval", "--pred", f"{work}/p.predictions.tsv", "--obs", f"{work}/zero.ctab", *A, "--out", f"{work}/z")
text = open(f"{work}/z.eval.tsv").read().lower()
check("nan" not in text and "inf" not in text and "\tNA\t".lower() in text, "all-zero FPKM: nan/inf in eval.tsv")

# A GCT 1.3 (Morpheus, cmapPy) written by cmapPy from a pandas frame, with row and column metadata: the samples
# pair with the prediction columns of their names, and every metric equals scipy's on the frame's own values.
g13 = np.random.default_rng(13)
tissues = list(pred[ids[0]])[7:10]
frame = pd.DataFrame(g13.integers(0, 2_000_000, (len(ids) + 1, 3)) / 10_000,  # exact in cmapPy's %.4f
                     index=pd.Index(ids + ["ENST_NOT_ANNOTATED.1"], name="rid"), columns=pd.Index(tissues, name="cid"))
row_meta = pd.DataFrame({"gene_id": [pred.get(t, {}).get("gene_id", "G") for t in frame.index],
                         "length": g13.integers(100, 9000, len(frame))}, index=frame.index)
col_meta = pd.DataFrame({"tissue_group": ["a", "b", "c"], "batch": [1, 2, 3]}, index=frame.columns)
write_gct(GCToo(data_df=frame, row_metadata_df=row_meta, col_metadata_df=col_meta), f"{work}/obs13.gct")
lines13 = open(f"{work}/obs13.gct").read().splitlines()
check(lines13[0] == "#1.3" and lines13[1] == f"{len(frame)}\t3\t2\t2", f"cmapPy wrote {lines13[:2]}")
r = run("eval", "--pred", f"{work}/p.predictions.tsv", "--obs", f"{work}/obs13.gct", *A, "--out", f"{work}/g13")
check("1 transcript ids are not in" in r.stderr, f"GCT 1.3: the unannotated row is not reported: {r.stderr}")
report13 = list(csv.DictReader(open(f"{work}/g13.eval.tsv"), delimiter="\t")) if r.returncode == 0 else []
check([row["obs_column"] for row in report13] == tissues, f"GCT 1.3 pairs: {[row['obs_column'] for row in report13]}")
for row in report13:
    x = np.array([float(pred[t][row["pred_column"]]) for t in ids])
    y = np.log1p(frame.loc[ids, row["obs_column"]].to_numpy(np.float32).astype(np.float64))
    refs = (spearmanr(x, y).correlation, pearsonr(x, y)[0], 1 - np.sum((y - x) ** 2) / np.sum((y - y.mean()) ** 2))
    for name, ref in zip(("spearman", "pearson", "r2"), refs):
        check(abs(float(row[name]) - ref) < 1e-5 * max(1, abs(ref)), f"GCT 1.3 {row['obs_column']} {name}: {row[name]} vs {ref}")
    check(int(row["n"]) == len(ids), f"GCT 1.3 n: {row['n']}")
# Its line 2 declaring one row more than the file has: refused, naming the file and line.
with open(f"{work}/cut13.gct", "w") as o:
    o.write("\n".join([lines13[0], f"{len(frame) + 1}\t3\t2\t2"] + lines13[2:]) + "\n")
r = subprocess.run([iso, "eval", "--pred", f"{work}/p.predictions.tsv", "--obs", f"{work}/cut13.gct", *A, "--out",
                    f"{work}/c13"], capture_output=True, text=True)
check(r.returncode != 0 and f"cut13.gct:{len(lines13)}: GCT file: {len(frame)} data rows, but line 2 declares "
      f"{len(frame) + 1}" in r.stderr and not os.path.exists(f"{work}/c13.eval.tsv"), f"GCT 1.3 dims: {r.stderr}")

# predict --observed: measured expression as extra columns (log(TPM+1)) and tracks beside the predictions.
run("predict", "--model", f"{data}/demo-model", "--fasta", f"{data}/genome.fa.gz", *A, "--device", "cpu",
    "--observed", f"{work}/q.quant.sf", "--out", f"{work}/po")
po = list(csv.DictReader(open(f"{work}/po.predictions.tsv"), delimiter="\t"))
check(all(abs(float(r["observed TPM"]) - np.log1p(obs[r["transcript_id"]])) < 1e-4 * max(1, np.log1p(obs[r["transcript_id"]]))
          for r in po), "observed column is not log(TPM+1) of the quantification")
check(os.path.exists(f"{work}/po.observed_TPM.bw"), "no observed bigWig track")

# ---- fit on a planted signal ----
rng = np.random.default_rng(0)
n_genes, per, dim = 100, 3, 20
gtf = f"{work}/synthetic.gtf"
emb = f"{work}/emb.tsv"
with open(gtf, "w") as g, open(emb, "w") as e, open(f"{work}/obs.sf", "w") as o:
    e.write("transcript_id\tgene_id\tgene_name\tchrom\tstart\tend\tstrand\t" +
            "\t".join(f"emb_{k}" for k in range(dim)) + "\n")
    o.write("Name\tLength\tEffectiveLength\tTPM\tNumReads\n")
    w = rng.normal(0, 1, dim) * (rng.random(dim) < 0.3)
    gene_effect = rng.normal(0, 0.3, n_genes)
    xs, ys = [], []
    for gi in range(n_genes):
        for k in range(per):
            tid, start = f"T{gi}_{k}", 1000 * (gi * per + k) + 1
            g.write(f"chrS\tsyn\texon\t{start}\t{start + 500}\t.\t+\t.\tgene_id \"G{gi}\"; transcript_id \"{tid}\";\n")
            x = rng.normal(0, 1, dim)
            y = 6 + 0.5 * x @ w  # log(TPM+1) > 0: TPM are never negative + gene_effect[gi] + rng.normal(0, 0.3)
            xs.append(x)
            ys.append(y)
            e.write(f"{tid}\tG{gi}\t\tchrS\t{start - 1}\t{start + 500}\t+\t" + "\t".join(f"{v:.6f}" for v in x) + "\n")
            o.write(f"{tid}\t500\t300\t{np.expm1(y):.6f}\t10\n")
ys = np.array(ys)
signal = 0.5 * np.array(xs) @ w
true_r2 = np.var(signal) / np.var(ys)
r = run("fit", "--embeddings", emb, "--obs", f"{work}/obs.sf", "--gtf", gtf, "--out", f"{work}/head.tsv")
cv = float(r.stderr.split("cross-validated R^2 ")[1].split()[0]) if r.returncode == 0 else -1
base = float(r.stderr.split("baseline ")[1].split(";")[0]) if r.returncode == 0 else 0
print(f"fit: CV R^2 {cv:.3f}, baseline {base:.3f}, planted signal explains {true_r2:.3f}")
check(cv > base + 0.3 and cv > true_r2 - 0.15, f"fit CV R^2 {cv} vs baseline {base}, planted {true_r2}")
check("; 300 transcripts, 100 genes, 5 folds" in r.stderr, f"fit's counts: {r.stderr}")
# observations for 4 of the 100 genes: the report counts what the fit saw (12 transcripts in 4 genes, so 4 folds)
with open(f"{work}/obs.sf") as f, open(f"{work}/obs_few.sf", "w") as o:
    o.writelines(l for l in f if not l.startswith("T") or int(l[1:].split("_")[0]) < 4)
r = run("fit", "--embeddings", emb, "--obs", f"{work}/obs_few.sf", "--gtf", gtf, "--out", f"{work}/head_few.tsv")
check("; 12 transcripts, 4 genes, 4 folds" in r.stderr, f"fit's counts with 4 observed genes: {r.stderr}")
head = [l.rstrip("\n").split("\t") for l in open(f"{work}/head.tsv") if not l.startswith("#")]
mean, sd = np.array(head[0][1:], float), np.array(head[1][1:], float)
b, wt = float(head[2][1]), np.array(head[2][2:], float)
fitted = b + ((np.array(xs) - mean) / sd) @ wt
check(np.corrcoef(fitted, signal)[0, 1] > 0.9, "the head file does not reproduce the planted signal")

# ---- predict --head: a head fitted on the demo model's embeddings replaces its tissues ----
split = f"{work}/split.gtf"  # one gene per isoform, so gene-grouped folds exist
with open(f"{data}/annotation.gtf") as f, open(split, "w") as o:
    for line in f:
        t = line.split('transcript_id "')
        o.write(line.replace(line.split('gene_id "')[1].split('"')[0], t[1].split('"')[0], 1) if len(t) > 1 else line)
SA = ["--fasta", f"{data}/genome.fa.gz", "--gtf", split, "--chrom-alias", f"{data}/chromAlias.txt", "--device", "cpu"]
run("predict", "--model", f"{data}/demo-model", *SA, "--embeddings", "--out", f"{work}/pe")
run("fit", "--embeddings", f"{work}/pe.embeddings.tsv", "--obs", f"{work}/q.quant.sf", "--out", f"{work}/h2.tsv")
run("predict", "--model", f"{data}/demo-model", *SA, "--head", f"{work}/h2.tsv", "--out", f"{work}/ph")
hd = [l.rstrip("\n").split("\t") for l in open(f"{work}/h2.tsv") if not l.startswith("#")]
mean, sd, b, wt = (np.array(hd[0][1:], float), np.array(hd[1][1:], float), float(hd[2][1]),
                   np.array(hd[2][2:], float))
emb_rows = list(csv.DictReader(open(f"{work}/pe.embeddings.tsv"), delimiter="\t"))
headed = {r["transcript_id"]: float(r["TPM"]) for r in csv.DictReader(open(f"{work}/ph.predictions.tsv"), delimiter="\t")}
for r in emb_rows:
    x = np.array([float(r[f"emb_{k}"]) for k in range(len(mean))])
    want = b + ((x - mean) / sd) @ wt
    check(abs(headed[r["transcript_id"]] - want) < 1e-4 * max(1, abs(want)), f"--head value of {r['transcript_id']}")
check(os.path.exists(f"{work}/ph.TPM.bw"), "no bigWig for the head's output")

# ---- bad inputs ----
with open(f"{work}/alien.sf", "w") as f:
    f.write("Name\tLength\tEffectiveLength\tTPM\tNumReads\nENST000001\t10\t5\t1\t1\n")
r = subprocess.run([iso, "eval", "--pred", f"{work}/p.predictions.tsv", "--obs", f"{work}/alien.sf", *A, "--out",
                    f"{work}/bad"], capture_output=True, text=True)
check(r.returncode == 1 and "none of its 1 transcript ids" in r.stderr, f"unknown ids: {r.stderr.strip()}")
with open(f"{work}/broken.sf", "w") as f:
    f.write("Name\tLength\tEffectiveLength\tTPM\tNumReads\nuc002xws.2\t10\t5\tlots\t1\n")
r = subprocess.run([iso, "eval", "--pred", f"{work}/p.predictions.tsv", "--obs", f"{work}/broken.sf", *A, "--out",
                    f"{work}/bad"], capture_output=True, text=True)
check(r.returncode == 1 and "broken.sf:2: column 4: expected a number" in r.stderr, f"bad value: {r.stderr.strip()}")
check(not [f for f in os.listdir(work) if f.startswith("bad")], "outputs left after failures")
print(f"{len(failures)} failed" if failures else "eval and fit checks passed")
sys.exit(1 if failures else 0)
