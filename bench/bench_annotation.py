#!/usr/bin/env python3
"""Benchmark (not a test): whole-annotation throughput, ours vs the PyTorch reference doing the same job the way
the public IsoFormer inference code does (one transcript at a time, every transcript's own Enformer window, RNA
padded to 2,048 tokens and protein to 1,026, batch 1), in one run on the same machine, inputs and model.

  bench/bench_annotation.py BUILD_DIR [--limit N]

Annotation: the iGenomes RefSeq chr21 GTF shipped by Debian's r-bioc-degnorm (652 transcripts of 339 genes,
real isoform structure and CDS). Sequence: GRCh37 chr20 from vt-examples standing in for chr21 (no Debian
package ships chr21; the bases do not change the cost). Model: the IsoFormer architecture at reduced width
(CPU-sized, random weights). Both packages are fetched with `apt-get download` when not installed. Prints
transcripts/s, the ratio, achieved GFLOP/s against the sgemm rate measured in the same run, peak memory, and the
FLOP saved by reuse and by not computing padding."""
import argparse
import glob
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "parity"))
import refmodels as rm  # noqa: E402

sys.path.insert(0, here)
import flops as flops_of  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--limit", type=int, default=0, help="only the first N transcripts of the reference (0: all)")
args = ap.parse_args()
iso = os.path.join(args.build, "plugin", "isoformer")
driver = os.path.join(args.build, "tests", "parity", "model_driver")
work = tempfile.mkdtemp(prefix="isoformer-bench-annotation-")
torch.manual_seed(0)
torch.set_num_threads(os.cpu_count())


def package_file(pkg, path):
    if os.path.exists("/" + path):
        return "/" + path
    subprocess.run(["apt-get", "download", "-q", pkg], cwd=work, check=True, capture_output=True)
    deb = glob.glob(os.path.join(work, pkg + "_*.deb"))[0]
    subprocess.run(["dpkg", "-x", deb, os.path.join(work, "root")], check=True)
    return os.path.join(work, "root", path)


fasta = package_file("vt-examples", "usr/share/doc/vt/examples/ref/20.fa.gz")
gtf = package_file("r-bioc-degnorm", "usr/lib/R/site-library/DegNorm/extdata/genes_chr21.gtf")
os.symlink(fasta, os.path.join(work, "genome.fa.gz"))
for ext in (".fai", ".gzi"):
    src = fasta + ext
    if os.path.exists(src):
        os.symlink(src, os.path.join(work, "genome.fa.gz" + ext))
    elif os.path.exists(src + ".gz"):
        subprocess.run(f"gzip -dc {src}.gz > {work}/genome.fa.gz{ext}", shell=True, check=True)
open(os.path.join(work, "alias.txt"), "w").write("20\tchr21\n")

# A CPU-sized IsoFormer: real structure, reduced width; 128 positions after the 7 poolings (16,384 bp).
from enformer_pytorch import Enformer, str_to_one_hot  # noqa: E402
from transformers import EsmModel  # noqa: E402
enf = Enformer.from_hparams(dim=192, depth=2, heads=4, attn_dim_key=16, num_downsamples=7, dim_divisible_by=16,
                            target_length=64, use_tf_gamma=False, output_heads=dict(human=8))
nt = EsmModel(rm.esm_config(128, 2, 4, 512, 4107, False, 2, 1e-12), add_pooling_layer=False)
for layer in nt.encoder.layer:
    layer.intermediate = rm.GatedIntermediate(128, 512)
    layer.output.dense = torch.nn.Linear(512, 128, bias=False)
esm = EsmModel(rm.esm_config(96, 2, 4, 384, 33, True, 32, 1e-12), add_pooling_layer=False)
model = rm.RefIsoformer(enf.eval(), nt.eval(), esm.eval(), heads=4, head_hidden=768)
window = 128 * 128
mdir = os.path.join(work, "model")
os.makedirs(mdir)
torch.save(model.state_dict(), os.path.join(mdir, "pytorch_model.bin"))
rm.write_config(os.path.join(mdir, "config.json"), model.config(window))

common = ["--model", mdir, "--fasta", os.path.join(work, "genome.fa.gz"), "--gtf", gtf, "--chrom-alias",
          os.path.join(work, "alias.txt"), "--device", "cpu", "-v"]


def ours(label, *extra):
    t = time.time()
    r = subprocess.run([iso, "predict", *common, "--out", os.path.join(work, label), *extra], capture_output=True,
                       text=True, check=True)
    return time.time() - t, r.stderr


# The reference's inputs: the same sequences (our extract equals gffread and samtools on every transcript).
subprocess.run([iso, "extract", "--fasta", os.path.join(work, "genome.fa.gz"), "--gtf", gtf, "--chrom-alias",
                os.path.join(work, "alias.txt"), "--window", str(window), "--out", os.path.join(work, "x")],
               check=True, capture_output=True)


def read_fasta(path):
    out = {}
    for block in open(path).read().split(">")[1:]:
        name, *lines = block.split("\n")
        out[name.split()[0]] = "".join(lines)
    return out


dna, rna, prot = (read_fasta(os.path.join(work, f"x.{k}.fa")) for k in ("dna", "rna", "protein"))
ids = list(dna)
if args.limit:
    ids = ids[: args.limit]


def tok_rna(seq):
    ids_ = [3]
    i = 0
    code = {"A": 0, "T": 1, "C": 2, "G": 3}
    while i < len(seq):
        run = 0
        while i + run < len(seq) and seq[i + run] in code:
            run += 1
        end = i + run - run % 6
        while i < end:
            v = 0
            for c in seq[i:i + 6]:
                v = v * 4 + code[c]
            ids_.append(6 + v)
            i += 6
        while i < end + run % 6:
            ids_.append(4102 + "ATCG".index(seq[i]))
            i += 1
        if i < len(seq):
            ids_.append(4106 if seq[i] == "N" else 0)
            i += 1
    return ids_


def pad(x, n):
    x = x[:n]
    return torch.tensor([x + [1] * (n - len(x))])


letters = "LAGVSERTIDPKQNFYMHWCXBUZO.-"
t0 = time.time()
with torch.no_grad():
    for t in ids:
        p = prot.get(t, "")
        pids = [0] + [4 + letters.index(c) if c in letters else 3 for c in p][:1024] + [2]
        model(dna[t], pad(tok_rna(rna[t]), 2048), pad(pids, 1026))
t_ref = time.time() - t0
ref_tps = len(ids) / t_ref
ref_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

t_tss, log_tss = ours("tss")
t_gene, log_gene = ours("gene", "--window-center", "gene")
n_all = len(dna)
# The machine's sgemm rate: OpenBLAS with its own threads on all cores, in this run (it drifts ~15%).
sgemm = float(subprocess.run([driver, "openblas", "2048", "10"], capture_output=True, text=True, check=True).stdout)


def gemm_stats(log):
    """(GEMM GFLOP/s, attention GFLOP/s, share of the run inside GEMMs, peak RSS MB) from predict -v."""
    g = log.split("GEMMs: ")[1]
    gemm_rate = float(g.split(" GFLOP/s")[0].split("(")[-1])
    gemm_s = float(g.split(" GFLOP in ")[1].split(" s")[0])
    a = log.split("attention: ")[1]
    attn_rate = float(a.split(" GFLOP/s")[0].split("(")[-1])
    rss = float(log.split("peak RSS ")[1].split(" MB")[0])
    return gemm_rate, attn_rate, gemm_s, rss


def windows(log):
    w = log.split("DNA windows: ")[1]
    return int(w.split(" computed")[0]), int(w.split(", ")[1].split(" reused")[0])


cfg = model.config(window)
fe = flops_of.enformer(cfg, window)
rna_len = {t: min(len(tok_rna(rna[t])), 2048) for t in dna}
prot_len = {t: min(len(prot.get(t, "")), 1024) + 2 for t in dna}
f_public = sum(fe + flops_of.esm(cfg, "nt_", 2048) + flops_of.esm(cfg, "esm_", 1026) for t in dna)
computed_tss, _ = windows(log_tss)
computed_gene, _ = windows(log_gene)
gene_of = {line.split("\t")[0]: line.split("\t")[1] for line in open(os.path.join(work, "x.tsv")).readlines()[1:]}
f_core = sum(flops_of.esm(cfg, "nt_", rna_len[t]) for t in dna)
# each distinct protein of a gene once
f_prot = sum(flops_of.esm(cfg, "esm_", len(p) + 2) for g, p in {(gene_of[t], prot[t][:1024]) for t in prot if prot[t]})
f_tss = computed_tss * fe + f_core + f_prot
f_gene = computed_gene * fe + f_core + f_prot
print(f"isoformer whole-annotation bench: {n_all} transcripts of {len(set(gene_of.values()))} genes (RefSeq chr21 GTF), "
      f"reduced IsoFormer, DNA {window} bp, {os.cpu_count()} cores, torch {torch.__version__}")
print(f"sgemm rate of this machine (OpenBLAS, all cores, same run): {sgemm:.1f} GFLOP/s")
print(f"PyTorch reference, public-code style ({len(ids)} transcripts): {t_ref:.1f} s, {ref_tps:.2f} transcripts/s, "
      f"peak RSS {ref_peak:.0f} MB")
for label, t, f, comp, log in (("ours, window per transcript TSS", t_tss, f_tss, computed_tss, log_tss),
                               ("ours, window per gene", t_gene, f_gene, computed_gene, log_gene)):
    tps = n_all / t
    gemm_rate, attn_rate, gemm_s, rss = gemm_stats(log)
    print(f"{label}: {t:.1f} s, {tps:.2f} transcripts/s, {tps / ref_tps:.2f}x the reference; {comp} Enformer "
          f"windows for {n_all} transcripts; {f / 1e9:.0f} GFLOP ({f / t / 1e9:.1f} GFLOP/s, "
          f"{100 * f / t / 1e9 / sgemm:.0f}% of sgemm); peak RSS {rss:.0f} MB")
    print(f"  GEMM-shaped stages: GEMMs {gemm_rate:.1f} GFLOP/s ({100 * gemm_rate / sgemm:.0f}% of sgemm, "
          f"{100 * gemm_s / t:.0f}% of the run), attention {attn_rate:.1f} GFLOP/s "
          f"({100 * attn_rate / sgemm:.0f}% of sgemm)")
print(f"FLOP: the public path computes {f_public / 1e9:.0f} GFLOP; reuse and no padding leave {f_tss / 1e9:.0f} "
      f"(per-TSS windows, {f_public / f_tss:.1f}x less) or {f_gene / 1e9:.0f} (per-gene, {f_public / f_gene:.1f}x less)")
