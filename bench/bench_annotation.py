#!/usr/bin/env python3
"""Benchmark (not a test): whole-annotation throughput, ours vs two PyTorch references doing the same job (the
same transcripts, non-coding ones with the empty protein <cls><eos> as the public model takes it), in one run on
the same machine, inputs and model:
- public-style, as the public IsoFormer inference code does it: one transcript at a time, every transcript's own
  Enformer window, RNA padded to 2,048 tokens and protein to 1,026, batch 1;
- reuse-aware, what a careful PyTorch user writes in ten lines: each distinct DNA window through Enformer once,
  each distinct protein through ESM-2 once, no padding.

  bench/.venv-torch/bin/python bench/bench_annotation.py BUILD_DIR [--offset N] [--limit N] [--width reduced|full]
                                                        [--precision fp32|bf16] [--repeats 3]

The fair baseline is PyPI's PyTorch (bench/setup-torch.sh) under torch.inference_mode with all cores, a warm-up
forward before timing, each side's model loaded outside the timed region (ours: the run time predict -v reports,
without loading the model and reading the inputs; the whole process's time is printed beside it); --repeats rounds,
each timing every side once (alternated, so that a drifting machine slows all alike), the median of each side and
each round's ratio, and the stages (DNA, RNA, protein, fusion+head) of ours against the reuse-aware reference.
--precision bf16: ours with --precision bf16, PyTorch under CPU autocast. --width full: the published widths
(~700M parameters, 196,608 bp; use --limit, minutes per transcript on 2 cores).

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
import time

import numpy as np
import torch

from scratch import scratch_dir

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "parity"))
import refmodels as rm  # noqa: E402

sys.path.insert(0, here)
import flops as flops_of  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--limit", type=int, default=0, help="only the first N transcripts, on every side (0: all)")
ap.add_argument("--offset", type=int, default=0,
                help="skip the first N transcripts (--offset 31 --limit 6: a slice like the whole annotation)")
ap.add_argument("--width", choices=("reduced", "full"), default="reduced")
ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads on each side (default all cores)")
ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                help="cpu: each side's CPU seconds (all its threads), which other jobs distort far less than wall time")
args = ap.parse_args()
iso = os.path.join(args.build, "plugin", "isoformer")
driver = os.path.join(args.build, "tests", "parity", "model_driver")
work = scratch_dir("isoformer-bench-annotation-")
torch.manual_seed(0)
torch.set_num_threads(args.threads)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


clock = time.process_time if args.clock == "cpu" else time.perf_counter
child_clock = children_cpu if args.clock == "cpu" else time.perf_counter


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
if args.width == "full":
    model, window = rm.make_full_isoformer(), 196608
else:
    model, window = None, 128 * 128
enf = Enformer.from_hparams(dim=192, depth=2, heads=4, attn_dim_key=16, num_downsamples=7, dim_divisible_by=16,
                            target_length=64, use_tf_gamma=False, output_heads=dict(human=8))
nt = EsmModel(rm.esm_config(128, 2, 4, 512, 4107, False, 2, 1e-12), add_pooling_layer=False)
for layer in nt.encoder.layer:
    layer.intermediate = rm.GatedIntermediate(128, 512)
    layer.output.dense = torch.nn.Linear(512, 128, bias=False)
esm = EsmModel(rm.esm_config(96, 2, 4, 384, 33, True, 32, 1e-12), add_pooling_layer=False)
model = model or rm.RefIsoformer(enf.eval(), nt.eval(), esm.eval(), heads=4, head_hidden=768)
mdir = os.path.join(work, "model")
os.makedirs(mdir)
torch.save(model.state_dict(), os.path.join(mdir, "pytorch_model.bin"))
rm.write_config(os.path.join(mdir, "config.json"), model.config(window))

common = ["--model", mdir, "--fasta", os.path.join(work, "genome.fa.gz"), "--gtf", gtf, "--chrom-alias",
          os.path.join(work, "alias.txt"), "--device", "cpu", "--precision", args.precision, "--threads",
          str(args.threads), "-v"]


def ours_cmd(label, *extra):
    return [iso, "predict", *common, "--transcripts", "@" + os.path.join(work, "ids.txt"), "--out",
            os.path.join(work, label), *extra]


def ours_run(cmd):
    """(seconds, -v log, seconds of the whole process) of one run. With the wall clock the seconds are those predict
    reports for its run, without loading the model and reading the inputs, which the references also do outside
    their timed region; the CPU clock can only take the whole process (its children's CPU seconds)."""
    t = child_clock()
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    process = child_clock() - t
    if args.clock == "wall":
        return float(r.stderr.split(" transcripts in ")[1].split(" s")[0]), r.stderr, process
    return process, r.stderr, process


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
ids = list(dna)[args.offset:]
if args.limit:
    ids = ids[: args.limit]
open(os.path.join(work, "ids.txt"), "w").write("\n".join(ids) + "\n")


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


def prot_ids(t):
    """ESM-2 ids of transcript t's protein; a non-coding transcript's is the empty protein <cls><eos>."""
    return [0] + [4 + letters.index(c) if c in letters else 3 for c in prot.get(t, "")][:1024] + [2]


def autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")


def public_style(tids):
    for t in tids:
        model(dna[t], pad(tok_rna(rna[t]), 2048), pad(prot_ids(t), 1026))


STAGE_NAMES = ("DNA", "RNA", "protein", "fusion+head")
reuse_stages = []  # per call of reuse_aware, seconds per stage


def reuse_aware(tids):
    """Each distinct DNA window and protein once, no padding: the embeddings are cached by input."""
    e_dna, e_prot = {}, {}
    split = dict.fromkeys(STAGE_NAMES, 0.0)
    for t in tids:
        t0 = clock()
        if dna[t] not in e_dna:
            e_dna[dna[t]] = model.dna_model(str_to_one_hot([dna[t]]), return_only_embeddings=True)
        t1 = clock()
        ri = torch.tensor([tok_rna(rna[t])[:2048]])
        e_rna = model.rna_model(input_ids=ri, attention_mask=torch.ones_like(ri)).last_hidden_state
        t2 = clock()
        key = tuple(prot_ids(t))
        if key not in e_prot:
            pi = torch.tensor([list(key)])
            e_prot[key] = model.protein_model(input_ids=pi, attention_mask=torch.ones_like(pi)).last_hidden_state
        t3 = clock()
        ones_r = torch.ones(ri.shape, dtype=torch.bool)
        ones_p = torch.ones((1, len(key)), dtype=torch.bool)
        h1 = model.cross_attention_layer_rna(e_dna[dna[t]], e_rna, ones_r)
        h2 = model.cross_attention_layer_protein(h1, e_prot[key], ones_p)
        model.head(h2[:, model.pool[0]:model.pool[1]].mean(1))
        for name, dt in zip(STAGE_NAMES, (t1 - t0, t2 - t1, t3 - t2, clock() - t3)):
            split[name] += dt
    reuse_stages.append(split)


def torch_run(fn):
    with torch.inference_mode(), autocast():
        t = clock()
        fn(ids)
        return clock() - t


# Warm-ups: each reference on the first transcript, each of our runs once (the page cache). Then --repeats rounds,
# each timing every side once, so that a machine whose speed drifts (shared cloud cores) slows all sides alike.
with torch.inference_mode(), autocast():
    public_style(ids[:1])
    reuse_aware(ids[:1])
cmds = {"tss": ours_cmd("tss"), "gene": ours_cmd("gene", "--window-center", "gene")}
for cmd in cmds.values():
    subprocess.run(cmd, capture_output=True, text=True, check=True)
rounds = []
for _ in range(max(args.repeats, 1)):
    r = {"public": (torch_run(public_style), None), "reuse": (torch_run(reuse_aware), None)}
    r.update({k: ours_run(cmd) for k, cmd in cmds.items()})
    rounds.append(r)


def median_run(side):
    """The median round's (seconds, -v log[, process seconds]) of one side."""
    return sorted((r[side] for r in rounds), key=lambda x: x[0])[len(rounds) // 2]


t_ref, t_reuse = median_run("public")[0], median_run("reuse")[0]
ref_tps, reuse_tps = len(ids) / t_ref, len(ids) / t_reuse
ref_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t_tss, log_tss, proc_tss = median_run("tss")
t_gene, log_gene, proc_gene = median_run("gene")
n_all = len(ids)
# The machine's sgemm rate: OpenBLAS with its own threads (--threads of them), in this run (it drifts ~15%).
sgemm = float(subprocess.run([driver, "openblas", "2048", "10"], capture_output=True, text=True, check=True,
                             env={**os.environ, "OPENBLAS_NUM_THREADS": str(args.threads),
                                  "ISO_CLOCK": args.clock}).stdout)


def gemm_stats(log):
    """(GEMM GFLOP/s, attention GFLOP/s, share of the run inside GEMMs, peak RSS MB) from predict -v."""
    g = log.split("GEMMs: ")[1]
    gemm_rate = float(g.split(" GFLOP/s")[0].split("(")[-1])
    gemm_s = float(g.split(" GFLOP in ")[1].split(" s")[0])
    a = log.split("attention: ")[1]
    attn_rate = float(a.split(" GFLOP/s")[0].split("(")[-1])
    rss = float(log.split("peak RSS ")[1].split(" MB")[0])
    return gemm_rate, attn_rate, gemm_s, rss


def ours_stages(log):
    """Seconds per stage from predict -v (its own wall clock, whichever --clock)."""
    w = log.split("DNA windows: ")[1]
    return dict(zip(STAGE_NAMES, (float(w.split("reused (")[1].split(" s)")[0]),
                                  float(w.split("; RNA ")[1].split(" s")[0]),
                                  float(w.split("proteins: ")[1].split("(")[1].split(" s")[0]),
                                  float(w.split("fusion+head ")[1].split(" s")[0]))))


def windows(log):
    w = log.split("DNA windows: ")[1]
    return int(w.split(" computed")[0]), int(w.split(", ")[1].split(" reused")[0])


cfg = model.config(window)
fe = flops_of.enformer(cfg, window)
rna_len = {t: min(len(tok_rna(rna[t])), 2048) for t in ids}
f_public = sum(fe + flops_of.esm(cfg, "nt_", 2048) + flops_of.esm(cfg, "esm_", 1026) for t in ids)
computed_tss, _ = windows(log_tss)
computed_gene, _ = windows(log_gene)
gene_of = {line.split("\t")[0]: line.split("\t")[1] for line in open(os.path.join(work, "x.tsv")).readlines()[1:]}
f_core = sum(flops_of.esm(cfg, "nt_", rna_len[t]) for t in ids)
# each distinct protein of a gene once (the empty protein of the non-coding ones once in all)
f_prot = sum(flops_of.esm(cfg, "esm_", len(p) + 2) for g, p in {(gene_of[t], prot.get(t, "")[:1024]) for t in ids
                                                               if prot.get(t)})
f_prot += flops_of.esm(cfg, "esm_", 2) if any(not prot.get(t) for t in ids) else 0
f_tss = computed_tss * fe + f_core + f_prot
f_gene = computed_gene * fe + f_core + f_prot
n_noncoding = sum(not prot.get(t) for t in ids)
print(f"isoformer whole-annotation bench: {n_all} transcripts from #{args.offset} ({n_noncoding} non-coding) of "
      f"{len({gene_of[t] for t in ids})} genes (RefSeq chr21 GTF), {args.width}-width IsoFormer, DNA {window} bp, "
      f"{args.precision}, {args.threads} threads on {os.cpu_count()} cores, {args.clock} clock; median of "
      f"{max(args.repeats, 1)} rounds after a warm-up, each round timing every side once")
print(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads, MKL {torch.backends.mkl.is_available()}, "
      f"inference_mode{', bf16 autocast' if args.precision == 'bf16' else ''})")
if not torch.backends.mkl.is_available():
    print("WARNING: this PyTorch has no MKL (Debian's?): not the fair baseline; run bench/setup-torch.sh")
if os.environ.get("OPENBLAS_CORETYPE"):
    print(f"NOTE: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set: our GEMMs and the sgemm rate run those "
          f"OpenBLAS kernels, not the CPU's best (isoformer -v says which); unset it to measure ours")
print(f"sgemm rate of this machine (OpenBLAS, {args.threads} threads, same run, per {args.clock} second): "
      f"{sgemm:.1f} GFLOP/s")
print(f"PyTorch reference, public-code style: {t_ref:.1f} s, {ref_tps:.3f} transcripts/s; reuse-aware: "
      f"{t_reuse:.1f} s, {reuse_tps:.3f} transcripts/s ({t_ref / t_reuse:.2f}x the public style); peak RSS "
      f"{ref_peak:.0f} MB")
for label, t, f, comp, log, proc in (
        ("ours, window per transcript TSS", t_tss, f_tss, computed_tss, log_tss, proc_tss),
        ("ours, window per gene", t_gene, f_gene, computed_gene, log_gene, proc_gene)):
    tps = n_all / t
    gemm_rate, attn_rate, gemm_s, rss = gemm_stats(log)
    print(f"{label}: {t:.1f} s, {tps:.3f} transcripts/s, {tps / reuse_tps:.2f}x the reuse-aware reference, "
          f"{tps / ref_tps:.2f}x the public style; {comp} Enformer "
          f"windows for {n_all} transcripts; {f / 1e9:.0f} GFLOP ({f / t / 1e9:.1f} GFLOP/s, "
          f"{100 * f / t / 1e9 / sgemm:.0f}% of sgemm); peak RSS {rss:.0f} MB")
    if args.clock == "wall":
        print(f"  the whole process, loading the model and reading the inputs too: {proc:.1f} s, "
              f"{t_reuse / proc:.2f}x the reuse-aware reference")
        print(f"  GEMM-shaped stages: GEMMs {gemm_rate:.1f} GFLOP/s ({100 * gemm_rate / sgemm:.0f}% of sgemm, "
              f"{100 * gemm_s / t:.0f}% of the run), attention {attn_rate:.1f} GFLOP/s "
              f"({100 * attn_rate / sgemm:.0f}% of sgemm)")
    else:  # predict times its ops by the wall clock, which the CPU clock's figures cannot be divided by
        print(f"  inside the ops (wall clock, meaningful on a quiet machine only): GEMMs {gemm_rate:.1f} GFLOP/s, "
              f"attention {attn_rate:.1f} GFLOP/s")
if args.clock == "wall":  # predict's stage times are wall seconds
    # reuse_stages[0] is the warm-up's; round i's reuse-aware run is reuse_stages[i + 1]
    reuse_split = sorted(zip((r["reuse"][0] for r in rounds), reuse_stages[1:]),
                         key=lambda x: x[0])[len(rounds) // 2][1]
    tss_split = ours_stages(log_tss)
    print("stages of the median rounds, ours per TSS against reuse-aware PyTorch: " +
          ", ".join(f"{k} {tss_split[k]:.2f} s vs {reuse_split[k]:.2f} s ({reuse_split[k] / tss_split[k]:.2f}x)"
                    for k in STAGE_NAMES))
print("round by round, ours per TSS against the reuse-aware reference: " +
      ", ".join(f"{r['reuse'][0] / r['tss'][0]:.2f}x" for r in rounds) +
      "; against the public style: " + ", ".join(f"{r['public'][0] / r['tss'][0]:.2f}x" for r in rounds))
print(f"FLOP: the public path computes {f_public / 1e9:.0f} GFLOP; reuse and no padding leave {f_tss / 1e9:.0f} "
      f"(per-TSS windows, {f_public / f_tss:.1f}x less) or {f_gene / 1e9:.0f} (per-gene, {f_public / f_gene:.1f}x less)")
