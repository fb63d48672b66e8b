"""isoformer eval against numpy/scipy in both spaces of observed values.
Observed as an isoformer TSV (log(TPM+1), like predictions) and as salmon TPM: n, Spearman, Pearson, R^2 on
log(TPM+1), and the within-gene isoform-fraction Pearson computed on TPM (expm1 of log values, never on the logs),
over genes with two or more isoforms. The SVG must draw y = x in every panel: both ends of its identity line,
read back through the axis ticks, lie on y = x, at the corners of the range the two axes share.
Usage: test_eval_fractions.py ISOFORMER_BINARY WORKDIR"""
import csv
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
from scipy.stats import pearsonr, spearmanr

iso, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


rng = np.random.default_rng(7)
ids, genes = [], []
for g in range(40):
    for k in range(1 + g % 4):  # 1 to 4 isoforms
        ids.append(f"T{g}_{k}")
        genes.append(f"G{g}")
n = len(ids)
tissues = ["Liver", "Lung"]
pred = rng.uniform(0, 5, (n, 2))
obs_log = np.clip(pred + rng.normal(0, 1, (n, 2)), 0, None)
obs_log[3, 0] = np.nan  # an unobserved transcript
tpm = np.expm1(np.clip(pred[:, 0] + rng.normal(0, 1.5, n), 0, None))


def write_tsv(path, cols, names):
    with open(path, "w") as f:
        f.write("transcript_id\tgene_id\tgene_name\tchrom\tstart\tend\tstrand\t" + "\t".join(names) + "\n")
        for i in range(n):
            vals = "\t".join("nan" if np.isnan(v) else f"{v:.6f}" for v in cols[i])
            f.write(f"{ids[i]}\t{genes[i]}\t\tchrS\t{1000 * i}\t{1000 * i + 500}\t+\t{vals}\n")


write_tsv(f"{work}/pred.tsv", pred, tissues)
write_tsv(f"{work}/obs.tsv", obs_log, tissues)
with open(f"{work}/quant.sf", "w") as f:
    f.write("Name\tLength\tEffectiveLength\tTPM\tNumReads\n")
    for i in range(n):
        f.write(f"{ids[i]}\t500\t300\t{tpm[i]:.6f}\t10\n")
f32 = lambda a: np.array(a, dtype=np.float32).astype(float)  # isoformer holds table values as float32


def fraction_r(p_log, o_tpm):
    """Pearson of within-gene fractions of TPM, genes with >= 2 isoforms observed on both sides."""
    fp, fo, n_genes = [], [], 0
    for g in dict.fromkeys(genes):
        rows = [i for i in range(n) if genes[i] == g and np.isfinite(p_log[i]) and np.isfinite(o_tpm[i])]
        a, b = np.maximum(np.expm1(p_log[rows]), 0), np.maximum(o_tpm[rows], 0)
        if len(rows) >= 2 and a.sum() > 0 and b.sum() > 0:
            fp += list(a / a.sum())
            fo += list(b / b.sum())
            n_genes += 1
    return pearsonr(fp, fo)[0], n_genes


def expect(row, x, y_log, y_tpm):
    ok = np.isfinite(x) & np.isfinite(y_log)
    xo, y = x[ok], y_log[ok]
    want = {"n": ok.sum(), "spearman": spearmanr(xo, y).correlation, "pearson": pearsonr(xo, y)[0],
            "r2": 1 - np.sum((y - xo) ** 2) / np.sum((y - y.mean()) ** 2)}
    want["isoform_fraction_r"], want["n_genes"] = fraction_r(x, y_tpm)
    for k, v in want.items():
        check(abs(float(row[k]) - v) < 1e-5 * max(1, abs(v)),
              f"{row['pred_column']} vs {row['obs_column']} {k}: {row[k]}, numpy/scipy {v}")
    print(f"{row['pred_column']} vs {row['obs_column']}: fraction r {row['isoform_fraction_r']} "
          f"(numpy {want['isoform_fraction_r']:.6f} over {want['n_genes']} genes)")


def run_eval(obs, out):
    r = subprocess.run([iso, "eval", "--pred", f"{work}/pred.tsv", "--obs", obs, "--out", out], capture_output=True,
                       text=True)
    check(r.returncode == 0, f"eval {obs}: {r.stderr.strip()}")
    return list(csv.DictReader(open(f"{out}.eval.tsv"), delimiter="\t")) if r.returncode == 0 else []


# Observed in log space (isoformer TSV): columns pair by name.
for row in run_eval(f"{work}/obs.tsv", f"{work}/log"):
    j = tissues.index(row["pred_column"])
    check(row["obs_column"] == row["pred_column"], f"pairs {row['pred_column']} with {row['obs_column']}")
    y = f32(obs_log[:, j])
    expect(row, f32(pred[:, j]), y, np.expm1(y))
# Observed TPM (salmon): one column, compared with every prediction column.
for row in run_eval(f"{work}/quant.sf", f"{work}/tpm"):
    expect(row, f32(pred[:, tissues.index(row["pred_column"])]), np.log1p(f32(tpm)), f32(tpm))

# GTEx's transcript TPM GCT: "#1.2", its size, transcript_id + gene_id, then samples; versioned ids match the
# bare ones, and --columns picks one sample.
gct = np.round(np.expm1(np.clip(pred[:, [1, 0, 1]] + rng.normal(0, 1, (n, 3)), 0, None)), 2)
gct_lines = ["#1.2", f"{n}\t3", "transcript_id\tgene_id\tGTEX-A\tGTEX-B\tGTEX-C"]
gct_lines += [f"{ids[i]}.7\t{genes[i]}.2\t" + "\t".join(f"{v:.2f}" for v in gct[i]) for i in range(n)]
with open(f"{work}/gtex.gct", "w") as f:
    f.write("\n".join(gct_lines) + "\n")
r = subprocess.run([iso, "eval", "--pred", f"{work}/pred.tsv", "--obs", f"{work}/gtex.gct", "--columns",
                    "Liver=GTEX-B", "--out", f"{work}/gct"], capture_output=True, text=True)
check(r.returncode == 0, f"eval gtex.gct: {r.stderr.strip()}")
rows = list(csv.DictReader(open(f"{work}/gct.eval.tsv"), delimiter="\t")) if r.returncode == 0 else []
check(len(rows) == 1 and rows[0]["obs_column"] == "GTEX-B", f"GCT pairs: {rows}")
for row in rows:
    expect(row, f32(pred[:, 0]), np.log1p(f32(gct[:, 1])), f32(gct[:, 1]))
# The same file cut short (it declares n rows), or with a sample named twice: refused, naming file:line, and no
# report at all (both were read as they came, exit 0).
for name, lines, says in (("gtex_cut.gct", gct_lines[:3 + n // 2], f"gtex_cut.gct:{3 + n // 2}: "),
                          ("gtex_twice.gct", gct_lines[:2] + [gct_lines[2].replace("GTEX-C", "GTEX-B")] + gct_lines[3:],
                           "gtex_twice.gct:3: columns 4 and 5 are both named 'GTEX-B'")):
    with open(f"{work}/{name}", "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run([iso, "eval", "--pred", f"{work}/pred.tsv", "--obs", f"{work}/{name}", "--columns",
                        "Liver=GTEX-B", "--out", f"{work}/bad"], capture_output=True, text=True)
    check(r.returncode != 0 and says in r.stderr, f"{name}: exit {r.returncode}, {r.stderr.strip()}")
    check(not os.path.exists(f"{work}/bad.eval.tsv") and not os.path.exists(f"{work}/bad.eval.svg"),
          f"{name}: a report was written")

# ---- the plot's y = x line ----
ns = "{http://www.w3.org/2000/svg}"
for name in ("log", "tpm"):
    panels, cur = [], None
    elems = list(ET.parse(f"{work}/{name}.eval.svg").getroot())
    for i, el in enumerate(elems):
        if el.tag == ns + "rect" and el.get("stroke"):
            cur = {"rect": [float(el.get(k)) for k in ("x", "y", "width", "height")], "xt": [], "yt": [], "id": None}
            panels.append(cur)
        elif el.tag == ns + "line" and el.get("class") == "identity":
            cur["id"] = [float(el.get(k)) for k in ("x1", "y1", "x2", "y2")]
        elif el.tag == ns + "line" and cur is not None:  # a grid line, its tick label next
            value = float(elems[i + 1].text)
            if el.get("x1") == el.get("x2"):
                cur["xt"].append((float(el.get("x1")), value))
            else:
                cur["yt"].append((float(el.get("y1")), value))
    check(len(panels) == 2, f"{name}: {len(panels)} panels")
    for p in panels:
        if p["id"] is None:
            check(False, f"{name}: a panel without the y = x line")
            continue
        fx = np.polyfit(*zip(*p["xt"]), 1)  # pixel -> value on each axis, from the tick labels
        fy = np.polyfit(*zip(*p["yt"]), 1)
        x0, y0, w, h = p["rect"]
        vx = lambda px: np.polyval(fx, px)
        vy = lambda py: np.polyval(fy, py)
        lo, hi = max(vx(x0), vy(y0 + h)), min(vx(x0 + w), vy(y0))
        span = hi - lo
        (a, b), (c, d) = (vx(p["id"][0]), vy(p["id"][1])), (vx(p["id"][2]), vy(p["id"][3]))
        check(abs(a - b) < 2e-3 * span and abs(c - d) < 2e-3 * span, f"{name}: line ({a},{b})-({c},{d}) is not y = x")
        check(abs(a - lo) < 2e-3 * span and abs(c - hi) < 2e-3 * span,
              f"{name}: y = x drawn from {a} to {c}, the shared range is {lo} to {hi}")
print(f"{len(failures)} failed" if failures else "eval checks passed")
sys.exit(1 if failures else 0)
