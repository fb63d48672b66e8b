#!/usr/bin/env python3
"""A quantification benchmark data set with real isoform structure and known truth (used by bench_quant.py).

Annotation: two real ones shipped by Debian, 1,744 transcripts in all:
  - r-bioc-isoformswitchanalyzer: extdata/example.gtf.gz, 1,092 human chr1 transcripts (a Cufflinks assembly,
    many isoforms per gene) with their real sequences (extdata/example_isoform_nt.fasta.gz);
  - r-bioc-degnorm: extdata/genes_chr21.gtf, 652 RefSeq chr21 transcripts (iGenomes), no sequence.
Genome: synthetic. Each cluster of overlapping transcripts keeps its real exon/intron structure, with introns and
gaps longer than 2 kb shortened to 2 kb (they matter to no quantifier, and a small genome keeps HISAT2 quick);
exonic bases come from the real transcript sequences where known, the rest is uniform random sequence.
Reads: each transcript gets a log-normal abundance (a fifth are not expressed); fragments ~ N(250, 25) drawn
in proportion to abundance x effective length, uniform along the transcript; 2 x 75 bp pairs, unstranded,
0.2% substitutions. Writes to OUT: genome.fa, annotation.gtf, transcripts.fa, r1.fq, r2.fq, truth.tsv
(transcript_id, gene_id, true TPM, fragments drawn).

  bench/make_quant_sim.py OUT [--pairs N] [--seed S]

Needs the two Debian packages' files: apt-get download r-bioc-isoformswitchanalyzer r-bioc-degnorm and
dpkg -x them into OUT/pkg (done here when missing)."""
import argparse
import glob
import gzip
import os
import subprocess

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--pairs", type=int, default=2000000)
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()
out = args.out
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(args.seed)
FRAG, SD, READ, MAX_GAP = 250, 25, 75, 2000

pkg = f"{out}/pkg"
if not glob.glob(f"{pkg}/usr/lib/R/site-library/DegNorm"):
    os.makedirs(pkg, exist_ok=True)
    subprocess.run(["apt-get", "download", "r-bioc-isoformswitchanalyzer", "r-bioc-degnorm"], cwd=pkg, check=True,
                   capture_output=True)
    for deb in glob.glob(f"{pkg}/*.deb"):
        subprocess.run(["dpkg", "-x", deb, pkg], check=True)
lib = f"{pkg}/usr/lib/R/site-library"


def read_gtf(path, opener):
    tx = {}
    with opener(path, "rt") as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            if len(c) < 9 or c[2] != "exon":
                continue
            attrs = dict(a.strip().split(" ", 1) for a in c[8].split(";") if a.strip())
            tid, gid = attrs["transcript_id"].strip('"'), attrs["gene_id"].strip('"')
            t = tx.setdefault(tid, {"chrom": c[0], "strand": c[6], "gene": gid, "exons": []})
            t["exons"].append((int(c[3]) - 1, int(c[4])))
    for t in tx.values():
        t["exons"].sort()
    return tx


def read_fasta(path):
    seqs, name = {}, None
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.startswith(">"):
                name = line[1:].split()[0]
                seqs[name] = []
            else:
                seqs[name].append(line.strip())
    return {k: "".join(v).upper() for k, v in seqs.items()}


sources = [(read_gtf(f"{lib}/IsoformSwitchAnalyzeR/extdata/example.gtf.gz", gzip.open),
            read_fasta(f"{lib}/IsoformSwitchAnalyzeR/extdata/example_isoform_nt.fasta.gz"), "chr1"),
           (read_gtf(f"{lib}/DegNorm/extdata/genes_chr21.gtf", open), {}, "chr21")]
COMP = str.maketrans("ACGTN", "TGCAN")
genome, transcripts = {}, {}
for tx, seqs, contig in sources:
    tx = {k: v for k, v in tx.items() if v["chrom"] == contig}
    # clusters of overlapping transcripts, in genomic order
    order = sorted(tx, key=lambda k: (tx[k]["exons"][0][0], k))
    clusters, end = [], -1
    for k in order:
        s, e = tx[k]["exons"][0][0], tx[k]["exons"][-1][1]
        if not clusters or s >= end:
            clusters.append([])
        clusters[-1].append(k)
        end = max(end, e) if clusters[-1][1:] else e
    seq, pos = [], 0
    for cl in clusters:
        # covered positions of the cluster; gaps longer than MAX_GAP shortened
        iv = sorted(e for k in cl for e in tx[k]["exons"])
        merged = []
        for s, e in iv:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        shift, new_start, prev = [], pos + MAX_GAP, None
        cur = new_start
        for s, e in merged:
            if prev is not None:
                cur += min(s - prev, MAX_GAP)
            shift.append((s, e, cur - s))
            cur += e - s
            prev = e
        def moved(p, shift=shift):
            for s, e, d in shift:
                if s <= p <= e:
                    return p + d
            raise ValueError(p)
        span = np.frombuffer(rng.choice(list(b"ACGT"), cur - pos).astype(np.uint8).tobytes(), dtype="S1")
        block = bytearray(span.tobytes())
        for k in cl:
            t = tx[k]
            t["exons"] = [(moved(s), moved(e)) for s, e in t["exons"]]
            if k in seqs:  # the real spliced sequence laid onto the exons
                s_ = seqs[k] if t["strand"] == "+" else seqs[k].translate(COMP)[::-1]
                if len(s_) == sum(e - s for s, e in t["exons"]):
                    o = 0
                    for s, e in t["exons"]:
                        block[s - pos:e - pos] = s_[o:o + e - s].encode()
                        o += e - s
            t["chrom"] = contig
            transcripts[k] = t
        seq.append(bytes(block))
        pos = cur
    genome[contig] = b"".join(seq) + bytes(rng.choice(list(b"ACGT"), MAX_GAP).astype(np.uint8))

with open(f"{out}/genome.fa", "w") as f:
    for c, s in genome.items():
        f.write(f">{c}\n")
        for i in range(0, len(s), 80):
            f.write(s[i:i + 80].decode() + "\n")
ids = sorted(transcripts)
tseq = {}
with open(f"{out}/annotation.gtf", "w") as g, open(f"{out}/transcripts.fa", "w") as f:
    for k in ids:
        t = transcripts[k]
        for s, e in t["exons"]:
            g.write(f"{t['chrom']}\tbench\texon\t{s + 1}\t{e}\t.\t{t['strand']}\t.\tgene_id \"{t['gene']}\"; "
                    f"transcript_id \"{k}\";\n")
        s_ = "".join(genome[t["chrom"]][s:e].decode() for s, e in t["exons"])
        tseq[k] = s_ if t["strand"] == "+" else s_.translate(COMP)[::-1]
        f.write(f">{k}\n{tseq[k]}\n")

# truth and reads
length = np.array([len(tseq[k]) for k in ids], float)
abundance = rng.lognormal(0, 1.5, len(ids)) * (rng.random(len(ids)) > 0.2) * (length >= FRAG + 2 * SD)
eff = np.maximum(length - FRAG + 1, 1)
frags = rng.multinomial(args.pairs, abundance * eff / (abundance * eff).sum())
tpm = abundance / abundance.sum() * 1e6
BASES = np.frombuffer(b"ACGT", np.uint8)
with open(f"{out}/r1.fq", "w") as f1, open(f"{out}/r2.fq", "w") as f2:
    n = 0
    for k, m in zip(ids, frags):
        if m == 0:
            continue
        s = np.frombuffer(tseq[k].encode(), np.uint8)
        L = len(s)
        fl = np.clip(np.round(rng.normal(FRAG, SD, m)).astype(int), 2 * READ, L)
        start = (rng.random(m) * (L - fl + 1)).astype(int)
        flip = rng.random(m) < 0.5
        comp = np.frombuffer(bytes(range(256)).translate(bytes.maketrans(b"ACGTN", b"TGCAN")), np.uint8)
        for i in range(m):
            a = s[start[i]:start[i] + READ].copy()
            b = comp[s[start[i] + fl[i] - READ:start[i] + fl[i]]][::-1].copy()
            for r in (a, b):
                err = rng.random(READ) < 0.002
                r[err] = BASES[rng.integers(0, 4, err.sum())]
            if flip[i]:
                a, b = b, a
            q = "I" * READ
            f1.write(f"@r{n}/1\n{a.tobytes().decode()}\n+\n{q}\n")
            f2.write(f"@r{n}/2\n{b.tobytes().decode()}\n+\n{q}\n")
            n += 1
with open(f"{out}/truth.tsv", "w") as f:
    f.write("transcript_id\tgene_id\ttpm\tfragments\n")
    for k, v, m in zip(ids, tpm, frags):
        f.write(f"{k}\t{transcripts[k]['gene']}\t{v:.6f}\t{m}\n")
print(f"{len(ids)} transcripts, {len(genome)} contigs ({sum(len(s) for s in genome.values())} bp), {n} pairs")
