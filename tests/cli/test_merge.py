"""isoformer merge: shard outputs made by hand are gathered into the files of one unsharded run.

Tables are checked byte for byte against rows sorted here with Python (chrom, start, end, transcript id, the
documented order); bigWig values are read back with bx-python (an independent reader) and compared per base with
the maximum over all transcripts' exons computed with numpy. Shard bigWigs are written with pyBigWig.
usage: test_merge.py ISOFORMER WORKDIR"""
import os
import random
import resource
import shutil
import subprocess
import sys

import numpy as np
import pyBigWig
from bx.bbi.bigwig_file import BigWigFile

exe, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
rng = random.Random(7)
CHROMS = [("chr2", 60000), ("chr10", 40000), ("chr1", 80000)]  # FASTA order; chr10 sorts before chr2
TISSUES = ["Adipose Tissue", "Brain", "Cervix Uteri"]
TRACK = 'track name="isoformer" itemRgb="On"'

# Transcripts: genes of 1-3 isoforms; genes may overlap each other (and so land in different shards).
transcripts = []
for g in range(24):
    chrom, size = CHROMS[g % 3]
    gstart = rng.randrange(0, size - 6000)
    for k in range(rng.randint(1, 3)):
        exons, pos = [], gstart + rng.randrange(0, 300)
        for _ in range(rng.randint(1, 4)):
            ln = rng.randrange(50, 600)
            exons.append((pos, pos + ln))
            pos += ln + rng.randrange(100, 900)
        vals = [round(rng.uniform(0, 8), 4) for _ in TISSUES]
        transcripts.append(dict(id=f"ENST{g:03d}{k}.1", gene=f"ENSG{g:03d}", name=f"G{g}", chrom=chrom,
                                strand=rng.choice("+-"), exons=exons, vals=vals, shard=g % 3))


def tsv_row(t):
    return "\t".join([t["id"], t["gene"], t["name"], t["chrom"], str(t["exons"][0][0]), str(t["exons"][-1][1]),
                      t["strand"]] + [f"{v:.6g}" for v in t["vals"]])


def bed_row(t):
    s, e = t["exons"][0][0], t["exons"][-1][1]
    return "\t".join(map(str, [t["chrom"], s, e, t["id"], 500, t["strand"], s, s, "0,0,255", len(t["exons"]),
                               ",".join(str(b - a) for a, b in t["exons"]) + ",",
                               ",".join(str(a - s) for a, b in t["exons"]) + ","] + [f"{v:.6g}" for v in t["vals"]]))


def order(t):
    return (t["chrom"].encode(), t["exons"][0][0], t["exons"][-1][1], t["id"].encode())


def write_tables(prefix, txs, shuffle):
    txs = list(txs)
    rng.shuffle(txs) if shuffle else txs.sort(key=order)
    with open(prefix + ".predictions.tsv", "w") as f:
        f.write("\t".join(["transcript_id", "gene_id", "gene_name", "chrom", "start", "end", "strand"] + TISSUES) + "\n")
        f.writelines(tsv_row(t) + "\n" for t in txs)
    with open(prefix + ".predictions.bed", "w") as f:
        f.write(TRACK + "\n")
        f.writelines(bed_row(t) + "\n" for t in txs)


def coverage(txs, chrom, size, j):
    """Per-base maximum over the transcripts' exons; NaN where no exon."""
    cov = np.full(size, np.nan, dtype=np.float32)
    for t in txs:
        if t["chrom"] == chrom:
            for a, b in t["exons"]:
                cov[a:b] = np.fmax(cov[a:b], np.float32(t["vals"][j]))
    return cov


def write_bigwig(path, txs, j):
    bw = pyBigWig.open(path, "w")
    bw.addHeader(CHROMS)
    for chrom, size in CHROMS:
        cov = coverage(txs, chrom, size, j)
        have = ~np.isnan(cov)
        if not have.any():
            continue
        # Runs of equal value over covered bases.
        edges = np.flatnonzero(np.diff(np.concatenate(([False], have, [False])).astype(np.int8)) != 0)
        starts, ends, vals = [], [], []
        for a, b in zip(edges[::2], edges[1::2]):
            seg = cov[a:b]
            cut = np.flatnonzero(np.diff(seg) != 0) + 1
            for s, e in zip(np.concatenate(([0], cut)), np.concatenate((cut, [b - a]))):
                starts.append(int(a + s)), ends.append(int(a + e)), vals.append(float(seg[s]))
        bw.addEntries([chrom] * len(starts), starts, ends=ends, values=vals)
    bw.close()


def track_name(tissue):
    return "".join(c if c.isalnum() or c in "-" else "_" for c in tissue)


shards = []
for s in range(3):
    prefix = os.path.join(work, f"shard{s}")
    mine = [t for t in transcripts if t["shard"] == s]
    write_tables(prefix, mine, shuffle=True)
    for j, tissue in enumerate(TISSUES):
        write_bigwig(f"{prefix}.{track_name(tissue)}.bw", mine, j)
    shards.append(prefix)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def merge(out, *args):
    return subprocess.run([exe, "merge", "--out", out, *args], capture_output=True, text=True)


out = os.path.join(work, "merged")
r = merge(out, shards[2], shards[0], shards[1])
check(r.returncode == 0, f"merge exits 0 ({r.stderr.strip()})")
write_tables(os.path.join(work, "expected"), transcripts, shuffle=False)
for suffix in (".predictions.tsv", ".predictions.bed"):
    with open(out + suffix, "rb") as a, open(os.path.join(work, "expected") + suffix, "rb") as b:
        got, want = a.read(), b.read()
    n_lines = got.count(b"\n")
    check(got == want, f"{suffix} byte-identical to the rows sorted by (chrom, start, end, id): {n_lines} lines")
compared = 0
for j, tissue in enumerate(TISSUES):
    with open(f"{out}.{track_name(tissue)}.bw", "rb") as f:
        bw = BigWigFile(f)
        for chrom, size in CHROMS:
            want = coverage(transcripts, chrom, size, j)
            got = bw.get_as_array(chrom.encode(), 0, size)
            got = np.full(size, np.nan, dtype=np.float32) if got is None else got.astype(np.float32)
            same = np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(
                got[~np.isnan(got)], want[~np.isnan(want)])
            compared += int((~np.isnan(want)).sum())
            check(same, f"bigWig {tissue} {chrom}: per-base values equal the maximum over all exons")
print(f"compared {compared} covered bases over {len(TISSUES)} tracks")
check(compared > 10000, "enough covered bases compared")

# Every shard is open at once: a soft limit on open files below what that needs (clusters often set 1,024) is
# raised to what it needs; a hard limit below it is refused before anything is written.
def low_files(soft, hard):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


limits = resource.getrlimit(resource.RLIMIT_NOFILE)
if limits[1] == resource.RLIM_INFINITY or limits[1] >= 200:
    r = subprocess.run([exe, "merge", "--out", os.path.join(work, "lowsoft"), *shards], capture_output=True,
                       text=True, preexec_fn=low_files(6, limits[1]))
    same = r.returncode == 0 and open(out + ".predictions.tsv").read() == open(
        os.path.join(work, "lowsoft.predictions.tsv")).read()
    check(same, f"merge with a soft limit of 6 open files: exit {r.returncode}, same table {same}: {r.stderr.strip()}")


# Failures leave no output behind and name the cause.
def fails(args, code, needle, what, **kw):
    bad = os.path.join(work, "bad")
    r = subprocess.run([exe, "merge", "--out", bad, *args], capture_output=True, text=True, **kw)
    left = [p for p in os.listdir(work) if p.startswith("bad.")]
    check(r.returncode == code and needle in r.stderr and not left,
          f"{what}: exit {r.returncode}, no output left ({left}), message: {r.stderr.strip()[:160]}")


fails([shards[0], shards[0]], 1, "is in shards", "the same shard twice")
fails(shards, 1, "this system allows 12 (ulimit -Hn)", "a hard limit of 12 open files", preexec_fn=low_files(12, 12))
os.makedirs(os.path.join(work, "other"))
odd = os.path.join(work, "other", "shard1")
for f in os.listdir(work):
    if f.startswith("shard1."):
        shutil.copy(os.path.join(work, f), os.path.join(work, "other", f))
with open(odd + ".predictions.tsv") as f:
    lines = f.readlines()
lines[0] = lines[0].replace("Brain", "Liver")
with open(odd + ".predictions.tsv", "w") as f:
    f.writelines(lines)
fails([shards[0], odd], 1, "header differs", "a shard from another run")
os.remove(os.path.join(work, "other", "shard1.predictions.tsv"))
shutil.copy(shards[1] + ".predictions.tsv", odd + ".predictions.tsv")
os.remove(odd + ".Brain.bw")
fails([shards[0], odd], 1, "missing", "a shard without a track")
fails([], 2, "SHARD_PREFIX", "no shard")
# --out naming one of the shards: refused before anything is written (it replaced shard 1 with the merged set)
before = {f: open(os.path.join(work, f), "rb").read() for f in os.listdir(work) if f.startswith("shard1.")}
r = merge(shards[0], *shards)
after = {f: open(os.path.join(work, f), "rb").read() for f in os.listdir(work) if f.startswith("shard1.")}
check(r.returncode == 2 and "is the input" in r.stderr and before == after,
      f"--out a shard: exit {r.returncode}, shard unchanged {before == after}, message: {r.stderr.strip()[:160]}")
r = subprocess.run([exe, "merge", "--help"], capture_output=True, text=True)
check(r.returncode == 0 and r.stdout.startswith("Usage: isoformer merge"), "--help")
sys.exit(1 if failures else 0)
