"""Track writers on a random in-memory annotation (overlapping isoforms, both strands, coding and non-coding,
NaN values, ties, a contig without transcripts, header order unlike name order), read back by independent
readers: TSV with csv, BED12 with bedtools on the file as written (bed12tobed6 blocks = exons; getfasta -split -s =
spliced exons; intersect -split with intronic probes) plus field checks, bigWig with bx-python against a per-base maximum over exons computed here. Bad inputs leave no
file. Usage: test_outputs.py OUTPUTS_DRIVER WORKDIR"""
import csv
import math
import os
import random
import subprocess
import sys

import numpy as np
from bx.bbi.bigwig_file import BigWigFile

driver, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
random.seed(11)
failures = []
CHROMS = [("chr2", 5000), ("chr1", 3000), ("chrM", 500)]  # header order, not name order
COL, BIN = 1, 70  # 70 leaves a partial last bin on every contig
N_SCORE = 2  # the BED score is the highest of the first 2 columns (the third stands for an observed one)
N_COLS = 3


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def random_tx(i):
    chrom, length = random.choice(CHROMS[:2])
    pos, exons = random.randrange(0, length - 400), []
    for _ in range(random.randint(1, 4)):
        start = pos + random.randint(0 if not exons else 1, 60)
        end = start + random.randint(1, 120)
        if end > length:
            break
        exons.append((start, end))
        pos = end
    if not exons:
        exons = [(0, 1)]
    cds = []
    if random.random() < 0.6:  # CDS: the exons clipped to a random inner span
        lo, hi = sorted(random.sample(range(exons[0][0], exons[-1][1] + 1), 2))
        cds = [(max(s, lo), min(e, hi)) for s, e in exons if max(s, lo) < min(e, hi)]
    values = [float("nan") if random.random() < 0.1 else random.choice([2.5, round(random.uniform(0, 12), 3)])
              for _ in range(N_COLS)]
    return dict(id=f"T{i:03d}", gene=f"G{i // 3}", chrom=chrom, strand=random.choice("+-"), exons=exons, cds=cds,
                values=values)


txs = [
    dict(id="A1", gene="GA", chrom="chr1", strand="+", exons=[(100, 200), (300, 400)], cds=[(150, 200), (300, 350)],
         values=[1.0, 2.5, 0.0]),
    dict(id="A2", gene="GA", chrom="chr1", strand="-", exons=[(150, 250), (350, 500)], cds=[], values=[1.0, 3.0, 0.5]),
    dict(id="A3", gene="GA", chrom="chr1", strand="+", exons=[(380, 390)], cds=[], values=[1.0, 1.0, 20.0]),
    dict(id="B1", gene="GB", chrom="chr2", strand="+", exons=[(0, 20), (4990, 5000)], cds=[(5, 20), (4990, 4993)],
         values=[1.0, 12.0, -1.0]),
    dict(id="B2", gene="GB", chrom="chr2", strand="+", exons=[(10, 30)], cds=[], values=[1.0, float("nan"), 1.0]),
] + [random_tx(i) for i in range(200)]


def fmt_iv(ivs):
    return ",".join(f"{s}-{e}" for s, e in ivs) if ivs else "."


def write_input(path, transcripts, chroms):
    with open(path, "w") as f:
        f.write(" ".join(f"{c}:{n}" for c, n in chroms) + "\n")
        for t in transcripts:
            f.write("\t".join([t["id"], t["gene"], t["chrom"], t["strand"], fmt_iv(t["exons"]), fmt_iv(t["cds"]),
                               ",".join("nan" if math.isnan(v) else repr(v) for v in t["values"])]) + "\n")


def run(transcripts, prefix, chroms=CHROMS):
    inp = prefix + ".in"
    write_input(inp, transcripts, chroms)
    return subprocess.run([driver, inp, prefix, str(COL), str(BIN), str(N_SCORE)], capture_output=True, text=True)


prefix = os.path.join(work, "tracks")
r = run(txs, prefix)
check(r.returncode == 0, f"driver: {r.stderr}")
by_id = {t["id"]: t for t in txs}


def span(t):
    return t["exons"][0][0], t["exons"][-1][1]


order = sorted(txs, key=lambda t: (t["chrom"].encode(), *span(t), t["id"].encode()))

# TSV with csv.
with open(prefix + ".tsv", newline="") as f:
    reader = csv.reader(f, delimiter="\t")
    header = next(reader)
    rows = list(reader)
check(header == ["transcript_id", "gene_id", "gene_name", "chrom", "start", "end", "strand", "c0", "c1", "c2"],
      f"TSV header {header}")
check([row[0] for row in rows] == [t["id"] for t in order], "TSV rows not sorted by (chrom, start, end, id)")
for row in rows:
    t = by_id[row[0]]
    check(row[1:7] == [t["gene"], t["gene"], t["chrom"], str(span(t)[0]), str(span(t)[1]), t["strand"]],
          f"TSV fields {row[:7]}")
    for v, got in zip(t["values"], row[7:]):
        ok = got == "NA" if math.isnan(v) else math.isclose(float(got), v, rel_tol=1e-5, abs_tol=1e-6)
        check(ok, f"TSV {row[0]} value {got} for {v}")

# BED12: fields, then bedtools.
with open(prefix + ".bed") as f:
    lines = f.read().splitlines()
check(lines[0] == f'track name="isoformer" description="IsoFormer predictions; score and colour: highest of the '
      f'{N_SCORE} predicted values" itemRgb="On"', f"track line {lines[0]}")
bed = [line.split("\t") for line in lines[1:]]
check([b[3] for b in bed] == [t["id"] for t in order], "BED rows not sorted")
for b in bed:
    t = by_id[b[3]]
    s, e = span(t)
    v = np.float32(np.nanmax(t["values"][:N_SCORE])) if not np.isnan(t["values"][:N_SCORE]).all() else np.nan
    score = 0 if np.isnan(v) or v <= 0 else min(1000, int(np.rint(np.float32(100) * v)))
    thick = (t["cds"][0][0], t["cds"][-1][1]) if t["cds"] else (s, s)
    sizes = "".join(f"{ee - ss}," for ss, ee in t["exons"])
    starts = "".join(f"{ss - s}," for ss, ee in t["exons"])
    want = [t["chrom"], str(s), str(e), t["id"], str(score), t["strand"], str(thick[0]), str(thick[1])]
    check(b[:8] == want, f"BED fields {b[:8]} want {want}")
    red = score * 255 // 1000
    check(b[8] == f"{red},0,{255 - red}", f"BED itemRgb {b[8]} for score {score}")
    check(b[9:12] == [str(len(t["exons"])), sizes, starts], f"BED blocks {b[9:12]}")
    check(len(b) == 12, f"BED has {len(b)} columns, not the 12 of BED12")

# bedtools on the file as written: the track line is skipped, the blocks read.
r = subprocess.run(["bedtools", "bed12tobed6", "-i", prefix + ".bed"], capture_output=True, text=True)
check(r.returncode == 0, f"bed12tobed6: {r.stderr}")
blocks = {}
for line in r.stdout.splitlines():
    c, s, e, name = line.split("\t")[:4]
    blocks.setdefault(name, []).append((int(s), int(e)))
check(all(sorted(blocks.get(t["id"], [])) == t["exons"] for t in txs), "bed12tobed6 blocks differ from the exons")

genome = {c: "".join(random.choice("ACGT") for _ in range(n)) for c, n in CHROMS}
fasta = os.path.join(work, "genome.fa")
with open(fasta, "w") as f:
    f.writelines(f">{c}\n{genome[c]}\n" for c, _ in CHROMS)
r = subprocess.run(["bedtools", "getfasta", "-fi", fasta, "-bed", prefix + ".bed", "-split", "-s", "-name", "-tab"],
                   capture_output=True, text=True)
check(r.returncode == 0, f"getfasta: {r.stderr}")
spliced = {line.split("\t")[0].split("(")[0].split("::")[0]: line.split("\t")[1] for line in r.stdout.splitlines()}
comp = str.maketrans("ACGT", "TGCA")
n_spliced = 0
for t in txs:
    seq = "".join(genome[t["chrom"]][s:e] for s, e in t["exons"])
    if t["strand"] == "-":
        seq = seq.translate(comp)[::-1]
    n_spliced += spliced.get(t["id"]) == seq
check(n_spliced == len(txs), f"getfasta -split: {n_spliced}/{len(txs)} spliced sequences match")

# A 1-bp probe in each intron of each multi-exon transcript: intersect -split finds no exon of that transcript
# there (other transcripts' exons may cover it: the expected hits come from the exons here).
probes = os.path.join(work, "introns.bed")
with open(probes, "w") as f:
    for t in txs:
        for (_, a), (b, _) in zip(t["exons"], t["exons"][1:]):
            if b > a:
                f.write(f"{t['chrom']}\t{(a + b) // 2}\t{(a + b) // 2 + 1}\tin_{t['id']}\n")
r = subprocess.run(["bedtools", "intersect", "-split", "-wa", "-wb", "-a", probes, "-b", prefix + ".bed"],
                   capture_output=True, text=True)
check(r.returncode == 0, f"intersect: {r.stderr}")
got_hits = sorted((x.split("\t")[3], x.split("\t")[7]) for x in r.stdout.splitlines())
probe_rows = [line.rstrip("\n").split("\t") for line in open(probes)]
want_hits = sorted((p[3], t["id"]) for p in probe_rows for t in txs
                   if t["chrom"] == p[0] and any(s <= int(p[1]) < e for s, e in t["exons"]))
n_probes = len(probe_rows)
check(n_probes > 100 and got_hits == want_hits,
      f"intersect -split: {len(got_hits)} hits of {n_probes} intronic probes, want {len(want_hits)} (exons only)")

# bigWig with bx-python against the per-base maximum over exons (NaN-valued transcripts carry no signal).
def max_over_exons(transcripts):
    expected = {c: np.full(n, np.nan, dtype=np.float64) for c, n in CHROMS}
    for t in transcripts:
        v = np.float32(t["values"][COL])
        if np.isnan(v):
            continue
        for s, e in t["exons"]:
            seg = expected[t["chrom"]][s:e]
            expected[t["chrom"]][s:e] = np.where(np.isnan(seg), v, np.maximum(seg, v))
    return expected


def binned(per_base):
    out = np.full(len(per_base), np.nan)
    for b0 in range(0, len(per_base), BIN):
        seg = per_base[b0:b0 + BIN]
        if (~np.isnan(seg)).any():
            out[b0:b0 + BIN] = np.nanmean(seg)
    return out


def check_bigwigs(prefix, transcripts):
    expected, n_bases = max_over_exons(transcripts), 0
    for path, transform in ((prefix + ".bw", lambda a: a), (prefix + ".binned.bw", binned)):
        with open(path, "rb") as f:
            bw = BigWigFile(f)
            for c, n in CHROMS:
                want = transform(expected[c])
                got = bw.get_as_array(c.encode(), 0, n)
                if got is None:
                    got = np.full(n, np.nan)
                same_cover = np.array_equal(np.isnan(got), np.isnan(want))
                close = np.allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-6, atol=1e-6) \
                    if same_cover else False
                check(same_cover and close, f"{os.path.basename(path)} {c}: values differ from the max-over-exons rule")
                n_bases += n
    return n_bases


n_bases = check_bigwigs(prefix, txs)
# Few long exons: each run of one value covers many bins.
sparse = [dict(id="L1", gene="GL", chrom="chr2", strand="+", exons=[(100, 3000)], cds=[], values=[0.0, 4.0, 0.0]),
          dict(id="L2", gene="GL", chrom="chr2", strand="-", exons=[(2900, 4990)], cds=[], values=[0.0, 5.0, 0.0])]
r = run(sparse, os.path.join(work, "sparse"))
check(r.returncode == 0, f"driver on long exons: {r.stderr}")
n_bases += check_bigwigs(os.path.join(work, "sparse"), sparse)
depth = {c: np.zeros(n, dtype=int) for c, n in CHROMS}
for t in txs:
    v = np.float32(t["values"][COL])
    for s, e in t["exons"]:
        depth[t["chrom"]][s:e] += not np.isnan(v)
n_overlap = sum(int((d >= 2).sum()) for d in depth.values())
check(n_overlap > 1000, f"only {n_overlap} bases covered by several valued transcripts: the max rule is untested")

# Bad inputs: nothing is left behind.
bad_cases = [
    ("past_end", [dict(txs[0], exons=[(2990, 3010)], cds=[])]),
    ("unknown_contig", [dict(txs[0], chrom="chr9")]),
]
for name, bad in bad_cases:
    p = os.path.join(work, name)
    r = run(bad, p)
    left = [x for x in os.listdir(work) if x.startswith(name) and ".bw" in x]
    check(r.returncode == 1 and r.stderr.strip() != "" and "Sanitizer" not in r.stderr,
          f"{name}: should fail with a message (exit 1), got {r.returncode}: {r.stderr[:300]}")
    check(not left, f"{name}: left {left}")

print(f"{len(rows)} TSV rows, {len(bed)} BED12 rows, {n_spliced} spliced sequences, {n_bases} bigWig bases compared "
      f"({n_overlap} under overlapping transcripts); "
      f"{len(failures)} failures")
sys.exit(1 if failures else 0)
