"""isoformer predict on test-data with the demo model, outputs read back by independent readers:
TSV with csv, BED12 with bedtools on the file as written (its blocks spliced from the FASTA must give each
transcript's RNA as gffread does; bed12tobed6 gives one line per exon; an intronic probe hits no transcript), bigWig with bx-python (every exon base must hold the maximum prediction of the transcripts covering it).
Sharing DNA windows and proteins across isoforms must give exactly the values of predicting each transcript on
its own. Bad inputs fail with a message and leave no output.
Usage: test_predict.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import csv
import filecmp
import gzip
import math
import os
import shutil
import struct
import subprocess
import sys

from bx.bbi.bigwig_file import BigWigFile
from fixtures import two_gene_gtf

iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []
COMMON = ["--model", f"{data}/demo-model", "--fasta", f"{data}/genome.fa.gz", "--gtf", f"{data}/annotation.gtf",
          "--chrom-alias", f"{data}/chromAlias.txt", "--device", "cpu", "--threads", "2"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def predict(prefix, *extra):
    r = subprocess.run([iso, "predict", *COMMON, "--out", prefix, *extra], capture_output=True, text=True)
    check(r.returncode == 0, f"predict {extra}: {r.stderr}")
    return r


def read_tsv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return rows


prefix = os.path.join(work, "all")
predict(prefix, "--embeddings")
rows = read_tsv(prefix + ".predictions.tsv")
header = open(prefix + ".predictions.tsv").readline().rstrip("\n").split("\t")
tissues = header[7:]
check(len(tissues) == 30 and tissues[0] == "Adipose Tissue" and tissues[-1] == "Vagina", f"tissue columns {tissues}")
gtf_ids = {line.split('transcript_id "')[1].split('"')[0] for line in open(f"{data}/annotation.gtf")
           if "\texon\t" in line}
check({r["transcript_id"] for r in rows} == gtf_ids, "TSV rows are not the GTF's transcripts")
check(all(math.isfinite(float(r[t])) for r in rows for t in tissues), "non-finite predictions")
keys = [(r["chrom"], int(r["start"]), int(r["end"]), r["transcript_id"]) for r in rows]
check(keys == sorted(keys), "rows are not sorted by chrom, start, end, id")
emb = read_tsv(prefix + ".embeddings.tsv")
check(len(emb) == len(rows) and len(emb[0]) == 7 + 192, "embeddings table shape")

# BED12: bedtools reads the file as written; the spliced block sequences equal gffread's transcript sequences.
bed = prefix + ".predictions.bed"
plain = os.path.join(work, "genome.fa")
with gzip.open(f"{data}/genome.fa.gz", "rt") as src, open(plain, "w") as dst:
    dst.write(src.read())
r = subprocess.run(["bedtools", "getfasta", "-fi", plain, "-bed", bed, "-split", "-s", "-name", "-tab"],
                   capture_output=True, text=True)
check(r.returncode == 0, f"bedtools getfasta: {r.stderr}")
spliced = {line.split("\t")[0].split("(")[0].split("::")[0]: line.split("\t")[1].upper() for line in r.stdout.splitlines()}
gtf20 = os.path.join(work, "ann20.gtf")
with open(f"{data}/annotation.gtf") as f, open(gtf20, "w") as out:
    for line in f:
        out.write(line.replace("chr20\t", "20\t", 1) if not line.startswith("#") else line)
g = subprocess.run(["gffread", "-w", "-", "-g", plain, gtf20], capture_output=True, text=True)
check(g.returncode == 0, f"gffread: {g.stderr}")
gff = {}
for block in g.stdout.split(">")[1:]:
    name, *seq = block.split("\n")
    gff[name.split()[0]] = "".join(seq).upper()
check(spliced == gff, f"BED12 blocks do not splice to gffread's transcripts ({len(spliced)} vs {len(gff)})")
bed_rows = [line.rstrip("\n").split("\t") for line in open(bed) if not line.startswith("track")]
by_id = {r["transcript_id"]: r for r in rows}
check(all(len(b) == 12 for b in bed_rows), "BED rows are not exactly the 12 BED12 fields")
check(all(int(b[4]) == max(0, min(1000, round(100 * max(float(by_id[b[3]][t]) for t in tissues)))) for b in bed_rows),
      "BED score is not round(100 * the highest tissue value) clamped to 0..1000")
track = open(bed).readline()
check(track.startswith('track name="isoformer" ') and not any(t in track for t in tissues),
      f"the track line names a tissue: {track}")
r = subprocess.run(["bedtools", "bed12tobed6", "-i", bed], capture_output=True, text=True)
n_exons = sum(1 for line in open(gtf20) if "\texon\t" in line)
check(r.returncode == 0 and len(r.stdout.splitlines()) == n_exons,
      f"bed12tobed6: {len(r.stdout.splitlines())} lines, want one per GTF exon ({n_exons}) {r.stderr}")

# bigWig: per base, the maximum over the transcripts whose exons cover it.
exons = {}
for line in open(gtf20):
    f = line.split("\t")
    if len(f) > 8 and f[2] == "exon":
        exons.setdefault(f[8].split('transcript_id "')[1].split('"')[0], []).append((int(f[3]) - 1, int(f[4])))
n_bases = 0
for t in (tissues[0], tissues[13], tissues[29]):
    expect = {}
    for row in rows:
        v = float(row[t])
        for s, e in exons[row["transcript_id"]]:
            for p in range(s, e):
                expect[p] = max(expect.get(p, -math.inf), v)
    lo, hi = min(expect), max(expect) + 1
    with open(f"{prefix}.{t.replace(' ', '_')}.bw", "rb") as fh:
        vals = BigWigFile(file=fh).get_as_array(b"20", lo, hi)
    for p in range(lo, hi):
        got = vals[p - lo]
        if p in expect:
            n_bases += 1
            if abs(got - expect[p]) > 1e-6 * max(1, abs(expect[p])):
                check(False, f"bigWig {t} at 20:{p}: {got} != {expect[p]}")
                break
        elif not math.isnan(got):
            check(False, f"bigWig {t} has signal at intron/intergenic 20:{p}")
            break
print(f"bigWig: {n_bases} exon bases checked across 3 tissues")

# A probe in the middle of each intron base run that no exon covers: inside the transcripts' spans, but
# bedtools intersect -split (which reads the blocks) must find no transcript there.
exonic = {p for ivs in exons.values() for s, e in ivs for p in range(s, e)}
probes = sorted({(a + b) // 2 for ivs in exons.values() for (_, a), (b, _) in zip(ivs, ivs[1:])} - exonic)
probe_bed = os.path.join(work, "introns.bed")
with open(probe_bed, "w") as f:
    f.writelines(f"20\t{p}\t{p + 1}\n" for p in probes)
r = subprocess.run(["bedtools", "intersect", "-split", "-u", "-a", probe_bed, "-b", bed], capture_output=True, text=True)
spanned = subprocess.run(["bedtools", "intersect", "-u", "-a", probe_bed, "-b", bed], capture_output=True, text=True)
check(r.returncode == 0 and r.stdout == "" and probes and len(spanned.stdout.splitlines()) == len(probes),
      f"intersect -split: {len(r.stdout.splitlines())} of {len(probes)} intronic probes hit a transcript {r.stderr}")

# Reuse is exact: each transcript alone gives the same numbers as the shared run.
for row in rows:
    alone = os.path.join(work, "alone-" + row["transcript_id"])
    predict(alone, "--transcripts", row["transcript_id"])
    single = read_tsv(alone + ".predictions.tsv")
    check(len(single) == 1 and all(single[0][t] == row[t] for t in tissues),
          f"{row['transcript_id']}: alone differs from the shared run")
r = predict(os.path.join(work, "verbose"), "-v")
check("reused" in r.stderr, "no reuse statistics with -v")

# Packed RNA batches (the GPU default) give the same bytes as one RNA at a time (docs/model.md, determinism
# contract): embeddings and predictions, whatever the token budget, and from the cache too.
for budget in ("8192", "300"):
    b = os.path.join(work, "batch" + budget)
    predict(b, "--batch-tokens", budget, "--embeddings")
    for suffix in (".embeddings.tsv", ".predictions.tsv"):
        got, want = open(b + suffix).read().splitlines(), open(prefix + suffix).read().splitlines()
        diff = [f"line {i + 1}" for i, (x, y) in enumerate(zip(got, want)) if x != y]
        check(len(got) == len(want) and not diff,
              f"--batch-tokens {budget}: {suffix} differs from one RNA at a time ({len(got)} vs {len(want)} lines; "
              f"differing: {', '.join(diff[:5]) or 'none'})")
# Other thread counts and other CPUs' OpenBLAS kernels: within 1e-5 of the largest output, the contract's tolerance
# where bits may differ (docs/model.md, determinism).
cores = subprocess.run(["bash", os.path.join(os.path.dirname(__file__), "..", "blas-coretypes.sh")],
                       capture_output=True, text=True, check=True).stdout.split()
largest = max(abs(float(x[t])) for x in rows for t in tissues)
for label, env, extra in [("--threads 1", {}, ["--threads", "1"])] + \
                         [(f"OPENBLAS_CORETYPE={c}", {"OPENBLAS_CORETYPE": c}, []) for c in cores]:
    other = os.path.join(work, "tolerance-" + label.split("=")[-1].replace(" ", ""))
    r = subprocess.run([iso, "predict", *COMMON, "--out", other, *extra], capture_output=True, text=True,
                       env={**os.environ, **env})
    check(r.returncode == 0, f"predict with {label}: {r.stderr}")
    got = {x["transcript_id"]: x for x in read_tsv(other + ".predictions.tsv")} if r.returncode == 0 else {}
    worst = max((abs(float(got[x["transcript_id"]][t]) - float(x[t])) for x in rows for t in tissues
                 if x["transcript_id"] in got), default=math.inf)
    print(f"{label}: predictions differ by at most {worst:.3g} (largest |value| {largest:.3g})")
    check(len(got) == len(rows) and worst <= 1e-5 * largest, f"{label}: predictions differ by {worst:.3g}, more "
          f"than 1e-5 of the largest |value| {largest:.3g}")

bc = os.path.join(work, "batch-cache")
predict(bc + "1", "--batch-tokens", "8192", "--cache", bc)
r = predict(bc + "2", "--batch-tokens", "8192", "--cache", bc, "-v")
check("cache hits 17" in r.stderr, f"batched cached run: {r.stderr.strip()}")
check(open(bc + "1.predictions.tsv").read() == open(bc + "2.predictions.tsv").read(), "batched cache run differs")

# --out into directories that do not exist yet (as the README's main job does with results/).
predict(os.path.join(work, "new", "dir", "x"), "--transcripts", rows[0]["transcript_id"])
check(os.path.exists(os.path.join(work, "new", "dir", "x.predictions.tsv")), "--out did not create its directory")

# A selection of zero transcripts (a region without genes, as a shard of an empty contig gets): its bigWigs are
# still valid files, read by bx-python and pyBigWig, with the FASTA's contigs and no signal (libBigWig alone
# writes no index into a bigWig without data, which both readers reject).
import pyBigWig  # noqa: E402

empty = os.path.join(work, "empty")
predict(empty, "--region", "chr20:1-100")
fai = {f[0]: int(f[1]) for f in (line.split("\t") for line in open(f"{data}/genome.fa.gz.fai"))}
check(len(read_tsv(empty + ".predictions.tsv")) == 0, "region without genes: TSV rows")
for t in (tissues[0], tissues[29]):
    path = f"{empty}.{t.replace(' ', '_')}.bw"
    try:
        with open(path, "rb") as fh:
            vals = BigWigFile(file=fh).get_as_array(b"20", 0, fai["20"])
        ok = vals is None or all(math.isnan(v) for v in vals)
        pb = pyBigWig.open(path)
        ok = ok and pb.chroms() == fai and not pb.intervals("20")
        pb.close()
    except Exception as e:  # noqa: BLE001 (bx-python raises its own errors on a bigWig without index)
        ok = False
        print(f"{path}: {type(e).__name__}: {e}")
    check(ok, f"empty selection: {path} is not a readable bigWig with the FASTA's contigs and no signal")

# The embedding cache: a second run computes nothing (3 windows + 7 RNAs + 7 proteins come from disk) and
# writes the same bytes.
cache = os.path.join(work, "cache")
predict(os.path.join(work, "c1"), "--cache", cache)
r = predict(os.path.join(work, "c2"), "--cache", cache, "-v")
check("cache hits 17" in r.stderr, f"second cached run: {r.stderr.strip()}")
check(open(os.path.join(work, "c1.predictions.tsv"), "rb").read() == open(prefix + ".predictions.tsv", "rb").read()
      and open(os.path.join(work, "c2.predictions.tsv"), "rb").read() == open(prefix + ".predictions.tsv", "rb").read(),
      "cached runs differ from the uncached one")

# One window per gene: a single Enformer run for BCAS1's isoforms, and each isoform alone gets the same values.
r = predict(os.path.join(work, "g"), "--window-center", "gene", "-v")
check("DNA windows: 1 computed, 6 reused" in r.stderr, f"gene windows: {r.stderr.strip()}")
g_rows = {x["transcript_id"]: x for x in read_tsv(os.path.join(work, "g.predictions.tsv"))}
one = rows[-1]["transcript_id"]
predict(os.path.join(work, "g1"), "--window-center", "gene", "--transcripts", one)
g1 = read_tsv(os.path.join(work, "g1.predictions.tsv"))[0]
check(all(g1[t] == g_rows[one][t] for t in tissues), "gene-window prediction alone differs from the shared run")

# Bad inputs: clear message, nothing written.
bad = os.path.join(work, "bad")
for args, expect in ((["--model", os.path.join(work, "nope")], "nope"),
                     (["--window", "1000"], "multiple of 128"),
                     (["--transcripts", "NM_404"], "NM_404"),
                     (["--device", "cuda:x"], "cuda")):
    r = subprocess.run([iso, "predict", *COMMON, *args, "--out", bad], capture_output=True, text=True)
    leftovers = [f for f in os.listdir(work) if f.startswith("bad")]
    check(r.returncode in (1, 2) and expect in r.stderr and not leftovers,
          f"{args}: rc={r.returncode} stderr={r.stderr.strip()} leftovers={leftovers}")
r = subprocess.run([iso, "predict", *COMMON[:-6], "--out", bad], capture_output=True, text=True)
check(r.returncode == 1 and "chromAlias" in r.stderr.replace("--chrom-alias", "chromAlias"),
      f"contig mismatch without --chrom-alias: {r.stderr.strip()}")

# A read error part-way, in a later gene (the inputs are read ahead of the model, on another thread): the
# bgzipped FASTA, indexed, then one compressed block at 1.31 Mb damaged (opening checks the index against the
# file's record boundaries, which that block does not hold), and BCAS1 copied 700 kb downstream as gene 9999.
# The first gene is predicted, then the copy's first window fails: exit 1 with htslib's region, the same message
# for every --prefetch, no output; the journal holds exactly BCAS1's transcripts, and --resume on the whole
# FASTA finishes with the values of a run without failure.
genome = open(plain).read()
fa_lines = genome.split("\n")
check(fa_lines[0] == ">20" and len(fa_lines[1]) == 60 and len(genome) == 4 + 61 * 25000, "test FASTA layout changed")
cut = os.path.join(work, "cut.fa.gz")
subprocess.run(f"bgzip -c {plain} > {cut} && rm -f {cut}.fai {cut}.gzi && samtools faidx {cut}", shell=True,
               check=True)
gzi = open(cut + ".gzi", "rb").read()
blocks = [(0, 0)] + [struct.unpack_from("<QQ", gzi, 8 + 16 * i) for i in range(struct.unpack_from("<Q", gzi)[0])]
damaged = 4 + 61 * (1310687 // 60) + 1310687 % 60  # the byte of base 20:1310688
start = max(c for c, u in blocks if u <= damaged)
with open(cut, "r+b") as f:  # deflate data of that block (past its 18-byte header) overwritten
    f.seek(start + 100)
    f.write(b"\xff" * 64)
two_genes = two_gene_gtf(data, os.path.join(work, "two_genes.gtf"))


def two_gene_args(fasta):
    return ["--model", f"{data}/demo-model", "--fasta", os.path.join(work, fasta), "--gtf", two_genes,
            "--chrom-alias", f"{data}/chromAlias.txt", "--device", "cpu", "--threads", "2"]


messages = set()
for n in ("0", "1", "4"):
    prefix = os.path.join(work, f"cut{n}", "x")
    r = subprocess.run([iso, "predict", *two_gene_args("cut.fa.gz"), "--prefetch", n, "--out", prefix],
                       capture_output=True, text=True)
    left = sorted(os.listdir(os.path.dirname(prefix)))
    journaled = sorted(line.split("\t")[0] for line in open(prefix + ".journal") if not line.startswith("#")) \
        if "x.journal" in left else None
    check(r.returncode == 1 and left == ["x.journal"] and journaled == sorted(gtf_ids),
          f"--prefetch {n} read error: rc={r.returncode} left={left} journaled={journaled}")
    messages.add(r.stderr.strip().split("\n")[-1])
msg = messages.pop() if len(messages) == 1 else f"differs with --prefetch: {messages}"
check(msg.startswith("isoformer predict: transcript copy_") and "cut.fa.gz: cannot read 20:1310688-1314783 (truncated or "
      "corrupt FASTA or index?)" in msg, f"read error message: {msg}")
resume_args = two_gene_args("genome.fa")
prefix = os.path.join(work, "cut4", "x")
r = subprocess.run([iso, "predict", *resume_args, "--out", prefix, "--resume", "-v"], capture_output=True,
                   text=True)
check(r.returncode == 0 and f"resumed {len(gtf_ids)};" in r.stderr, f"resume after the read error: {r.stderr}")
intact = os.path.join(work, "intact")
r = subprocess.run([iso, "predict", *resume_args, "--out", intact], capture_output=True, text=True)
check(r.returncode == 0 and filecmp.cmp(prefix + ".predictions.tsv", intact + ".predictions.tsv", shallow=False),
      "resumed run differs from a run without the read error")

# A full disk (a 1 KiB file-size limit, SIGXFSZ ignored so writes fail with EFBIG): exit 1 with the reason,
# no output file; only the journal of finished transcripts may stay, for --resume.
full = os.path.join(work, "full")
r = subprocess.run(["bash", "-c", 'ulimit -f 1; trap "" XFSZ; exec "$@"', "_", iso, "predict", *COMMON, "--out", full],
                   capture_output=True, text=True)
left = [f for f in os.listdir(work) if f.startswith("full") and not f.endswith(".journal")]
check(r.returncode == 1 and "write failed (File too large)" in r.stderr and not left,
      f"disk full: rc={r.returncode} stderr={r.stderr.strip()} left={left}")

# --precision bf16 on the CPU (oneDNN): predictions within the bf16 tolerance of fp32 (tests/parity/test_bf16.py
# states it per stage) and not equal to them; where the CPU or build has no bf16 GEMMs, a message and exit 1.
out16 = os.path.join(work, "bf16")
r = subprocess.run([iso, "predict", *COMMON, "--precision", "bf16", "--out", out16], capture_output=True, text=True)
if r.returncode == 1 and "bf16 precision on the CPU needs" in r.stderr:
    print("bf16 on the CPU unavailable here:", r.stderr.strip())
else:
    check(r.returncode == 0, f"--precision bf16: {r.stderr}")
    fp32_rows = {row["transcript_id"]: row for row in rows}
    rows16 = read_tsv(out16 + ".predictions.tsv") if r.returncode == 0 else []
    scale = max(abs(float(row[t])) for row in rows for t in tissues)
    worst = max((abs(float(x[t]) - float(fp32_rows[x["transcript_id"]][t])) for x in rows16 for t in tissues),
                default=math.inf)
    check(0 < worst <= 3e-2 * scale, f"bf16 vs fp32: largest difference {worst} (largest |value| {scale})")

# Half-precision checkpoints: the same predictions as a float32 checkpoint holding the same values, rounded to the
# half type by torch and widened back; float16 as safetensors, bfloat16 as torch.save (both readers), on two
# transcripts to keep the test short.
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

state = load_file(f"{data}/demo-model/model.safetensors")
few = ["--transcripts", ",".join(sorted(gtf_ids)[:2])]
for dtype, name, as_bin in ((torch.float16, "f16", False), (torch.bfloat16, "bf16", True)):
    half = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    widened = {k: v.float() if v.is_floating_point() else v for k, v in half.items()}
    outs = []
    for kind, tensors, pickled in ((name, half, as_bin), (name + "-as-f32", widened, False)):
        d = os.path.join(work, "model-" + kind)
        os.makedirs(d, exist_ok=True)
        shutil.copy(f"{data}/demo-model/config.json", d)
        if pickled:
            torch.save(tensors, os.path.join(d, "pytorch_model.bin"))
        else:
            save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        out = os.path.join(work, "half-" + kind)
        r = subprocess.run([iso, "predict", *COMMON, *few, "--model", d, "--out", out], capture_output=True, text=True)
        check(r.returncode == 0, f"{kind} checkpoint: {r.stderr}")
        outs.append(open(out + ".predictions.tsv").read() if r.returncode == 0 else kind)
    check(outs[0] == outs[1], f"{name} checkpoint predicts other values than its float32 widening")

print(f"{len(failures)} failed" if failures else f"predict checks passed ({len(rows)} transcripts)")
sys.exit(1 if failures else 0)
