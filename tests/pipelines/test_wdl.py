"""WDL checks: `miniwdl check --strict`, and `miniwdl run` of the scatter/gather workflow without containers (our
bash backend, miniwdl_bash/), whose merged outputs must equal one unsharded `isoformer predict` run; a failing
task must fail the workflow.

usage: test_wdl.py ISOFORMER MODE WORKDIR
  check      miniwdl check --strict on every .wdl; wdl/test-inputs.json and .dockstore.yml match the workflow
  run        the workflows on test-data with the real binary (skipped, exit 77, until predict is built): the
             predict scatter/gather and the variants scatter/gather, each against one unsharded run
  plumbing   the workflow with a stand-in `isoformer predict` (a few hand-made transcripts, written by this
             script) and the real `isoformer merge`: checks the scatter, the gather and failure propagation now"""
import gzip
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import yaml
from bx.bbi.bigwig_file import BigWigFile

from checks import check, finish, skip


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
WDL_DIR = os.path.join(ROOT, "wdl")
WORKFLOW = os.path.join(WDL_DIR, "isoformer_scatter.wdl")
# test-inputs.json reads the test data over https from the release's tag (a Terra/Dockstore test); here, from
# this checkout. The tag is CMake's project version (packaging_recipe holds the other files to it).
VERSION = re.search(r"project\(isoformer VERSION (\S+)", open(os.path.join(ROOT, "CMakeLists.txt")).read()).group(1)
RELEASE_URL = f"https://raw.githubusercontent.com/isoformer/isoformer/v{VERSION}/"
DERIVED = os.path.join(HERE, "data")  # tests/pipelines/data/README.md
SIMULATED_BAM = os.path.join(ROOT, "test-data", "simulated.bam")  # reads drawn from the test annotation
VARIANTS = os.path.join(WDL_DIR, "isoformer_variants.wdl")
exe, mode, work = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])



def miniwdl(*args, path_prefix=None):
    env = dict(os.environ, MINIWDL__SCHEDULER__CONTAINER_BACKEND="bash",
               PYTHONPATH=os.pathsep.join([os.path.join(HERE, "miniwdl_bash"), os.environ.get("PYTHONPATH", "")]),
               PATH=os.pathsep.join(p for p in (path_prefix, os.path.dirname(exe), os.environ["PATH"]) if p))
    return subprocess.run([sys.executable, "-m", "WDL", *args], env=env, capture_output=True, text=True)


def run_check():
    import WDL
    for name in sorted(os.listdir(WDL_DIR)):
        if name.endswith(".wdl"):
            r = miniwdl("check", "--strict", os.path.join(WDL_DIR, name))
            check(r.returncode == 0, f"miniwdl check --strict {name} {r.stderr.strip()[-400:]}")
    for workflow, test_inputs in ((WORKFLOW, "test-inputs.json"), (VARIANTS, "test-inputs-variants.json")):
        doc = WDL.load(workflow)
        declared = {b.name for b in doc.workflow.available_inputs}
        inputs = json.load(open(os.path.join(WDL_DIR, test_inputs)))
        names = {k.split(".", 1)[1] for k in inputs}
        required = {b.name for b in doc.workflow.required_inputs}
        check(all(k.startswith(doc.workflow.name + ".") for k in inputs) and names <= declared and required <= names,
              f"{test_inputs} names workflow inputs {sorted(names)}, required {sorted(required)}")
        files = [v for v in inputs.values() if isinstance(v, str) and v.startswith("https://")]
        check(files and all(v.startswith(RELEASE_URL) and os.path.isfile(os.path.join(ROOT, v[len(RELEASE_URL):]))
                            for v in files),
              f"{test_inputs}: its {len(files)} files are the release's copies of files of this checkout")
    check_gpu_runtime(WDL)
    dockstore = yaml.safe_load(open(os.path.join(ROOT, ".dockstore.yml")))
    for wf in dockstore["workflows"]:
        paths = [wf["primaryDescriptorPath"], *wf.get("testParameterFiles", [])]
        check(wf["subclass"] == "WDL" and all(os.path.exists(ROOT + p) for p in paths),
              f".dockstore.yml {wf['name']}: {paths} exist")


# The oldest Linux driver each CUDA major version runs on (NVIDIA's CUDA Toolkit release notes, table 3:
# "CUDA Toolkit and Corresponding Driver Versions", minor version compatibility).
CUDA_MIN_DRIVER = {11: 450, 12: 525, 13: 580}


def check_gpu_runtime(WDL):
    """Every task that asks for a GPU defaults nvidiaDriverVersion to a driver the Dockerfile's CUDA runs on (a GPU
    VM given an older driver cannot run the image's CUDA), and every task and workflow takes `zones` (docs: an
    input of every task and of the workflow) and passes it to its calls."""
    cuda = re.search(r"^ARG CUDA_VERSION=(\d+)\.", open(os.path.join(ROOT, "Dockerfile")).read(), re.M)
    need = CUDA_MIN_DRIVER.get(int(cuda.group(1))) if cuda else None
    tasks = WDL.load(os.path.join(WDL_DIR, "isoformer_tasks.wdl")).tasks
    for t in tasks:
        inputs = {d.name: d for d in t.inputs}
        if "gpuCount" in t.runtime:
            d = inputs.get("nvidia_driver_version")
            default = d.expr.literal.value if d is not None and d.expr is not None and d.expr.literal else None
            check(need and default and int(default.split(".")[0]) >= need,
                  f"task {t.name}: nvidia_driver_version default {default} runs CUDA {cuda and cuda.group(1)} "
                  f"(driver >= {need})")
        check("zones" in inputs and "zones" in t.runtime, f"task {t.name}: a zones input, its runtime zones")
    for path in (WORKFLOW, VARIANTS):
        wf = WDL.load(path).workflow
        calls = [c for c in wf.body if isinstance(c, WDL.Tree.Call)] + [
            c for sc in wf.body if isinstance(sc, WDL.Tree.Scatter) for c in sc.body if isinstance(c, WDL.Tree.Call)]
        check(any(d.name == "zones" for d in wf.inputs) and calls and all("zones" in c.inputs for c in calls),
              f"workflow {wf.name}: a zones input, passed to {[c.name for c in calls]}")


def outputs_of(result_dir):
    with open(os.path.join(result_dir, "outputs.json")) as f:
        return json.load(f)


def compare(whole_prefix, outs, fai, label="scatter/gather"):
    for key, suffix in (("predictions_tsv", ".predictions.tsv"), ("predictions_bed", ".predictions.bed")):
        a = open(whole_prefix + suffix, "rb").read()
        b = open(outs[f"isoformer_scatter.{key}"], "rb").read()
        n_lines = a.count(b"\n")
        check(a == b and n_lines > 1, f"{label}: merged {suffix} byte-identical to one unsharded run ({n_lines} lines)")
    merged = {os.path.basename(p)[len("test."):]: p for p in outs["isoformer_scatter.predictions_bigwigs"]}
    d = os.path.dirname(whole_prefix)
    whole = {p[len("test."):]: os.path.join(d, p) for p in os.listdir(d) if p.startswith("test.") and p.endswith(".bw")}
    check(sorted(merged) == sorted(whole) and whole, f"{label}: bigWig tracks {sorted(merged)}")
    # merge writes its manifest only after checking the shards' (staged by the workflow beside their files)
    manifest = outs.get("isoformer_scatter.run_manifest")
    run = json.load(open(manifest)) if manifest else {}
    check(run.get("command") == "merge" and {f["name"] for f in run.get("files", [])} >=
          {os.path.basename(outs[f"isoformer_scatter.predictions_{k}"]) for k in ("tsv", "bed")},
          f"{label}: merge checked the shards' run manifests and wrote its own ({manifest})")
    contigs = [(line.split("\t")[0], int(line.split("\t")[1])) for line in open(fai)]
    for track in sorted(set(merged) & set(whole)):
        with open(whole[track], "rb") as fa, open(merged[track], "rb") as fb:
            wa, wb = BigWigFile(fa), BigWigFile(fb)
            covered = 0
            ok = True
            for chrom, size in contigs:
                va, vb = wa.get_as_array(chrom.encode(), 0, size), wb.get_as_array(chrom.encode(), 0, size)
                same = (va is None and vb is None) or (
                    va is not None and vb is not None and np.array_equal(va, vb, equal_nan=True))
                ok &= same
                covered += 0 if va is None else int((~np.isnan(va)).sum())
            check(ok and covered > 0, f"{label}: {track}: per-base values equal one run's over {covered} bases (bx-python)")


def run_workflow(inputs, out_dir, path_prefix=None):
    path = os.path.join(work, os.path.basename(out_dir) + ".inputs.json")
    with open(path, "w") as f:
        json.dump(inputs, f, indent=1)
    return miniwdl("run", WORKFLOW, "-i", path, "-d", out_dir, "--verbose", path_prefix=path_prefix)


def run_real():
    for cmd in ("predict", "merge"):
        if subprocess.run([exe, cmd, "--help"], capture_output=True).returncode != 0:
            skip(f"'isoformer {cmd} --help' fails: subcommand not built yet")
    inputs = json.load(open(os.path.join(WDL_DIR, "test-inputs.json")))
    for k, v in inputs.items():
        if isinstance(v, str) and v.startswith(RELEASE_URL):
            inputs[k] = os.path.join(ROOT, v[len(RELEASE_URL):])
            if not os.path.isfile(inputs[k]):
                skip(f"this checkout lacks the file {v[len(RELEASE_URL):]}")
    # predict's last digits depend on --threads (the task's cpu): the shards and the unsharded run use the same.
    inputs.update({"isoformer_scatter.n_shards": 2, "isoformer_scatter.use_gpu": False,
                   "isoformer_scatter.predict.cpu": 2})
    split = os.path.join(DERIVED, "split_genes.gtf")
    for label, gtf in (("annotation", inputs["isoformer_scatter.gtf"]), ("split_genes", split)):
        run_real_once(dict(inputs, **{"isoformer_scatter.gtf": gtf}), label)
    run_real_embeddings(dict(inputs, **{"isoformer_scatter.gtf": split}))
    bad = dict(inputs, **{"isoformer_scatter.gtf": os.path.join(work, "broken.gtf")})
    with open(bad["isoformer_scatter.gtf"], "w") as f:
        f.write("this is not a GTF\n")
    r = run_workflow(bad, os.path.join(work, "failing"))
    check(r.returncode != 0 and "broken.gtf:1: expected 9 tab-separated columns" in r.stderr,
          f"a failing predict fails the workflow (miniwdl exit {r.returncode}), with predict's message")
    run_quant_task(inputs)
    run_variants_workflow()


def run_real_embeddings(inputs):
    """--embeddings in predict.extra_args (the input of fit): the workflow's predictions_embeddings must equal one
    unsharded `isoformer predict --embeddings` run's, byte for byte, with both shards holding transcripts."""
    r = run_workflow(dict(inputs, **{"isoformer_scatter.predict.extra_args": "--embeddings"}),
                     os.path.join(work, "embeddings"))
    if not check(r.returncode == 0, "--embeddings: miniwdl run exits 0 " + (r.stderr.strip()[-600:] if r.returncode else "")):
        return
    run_dir = os.path.join(work, "embeddings", "_LAST")
    shard_rows = [sum(1 for _ in open(outputs_of(os.path.join(run_dir, f"call-predict-{i}"))["predict.embeddings"][0])) - 1
                  for i in (0, 1)]
    whole = os.path.join(work, "embeddings.whole")
    p = subprocess.run([exe, "predict", "--model", os.path.dirname(inputs["isoformer_scatter.model"]),
                        "--fasta", inputs["isoformer_scatter.fasta"], "--gtf", inputs["isoformer_scatter.gtf"],
                        "--chrom-alias", inputs["isoformer_scatter.chrom_alias"], "--embeddings",
                        "--device", "cpu", "--threads", "2", "--out", whole], capture_output=True, text=True)
    got = outputs_of(run_dir).get("isoformer_scatter.predictions_embeddings")
    want = open(whole + ".embeddings.tsv", "rb").read() if p.returncode == 0 else None
    check(want is not None and got is not None and open(got, "rb").read() == want and want.count(b"\n") > 2
          and min(shard_rows) > 0,
          f"--embeddings: the workflow's predictions_embeddings ({got}) byte-identical to one unsharded run's "
          f"(shards of {shard_rows} rows)")


def run_variants_workflow():
    """The variants scatter/gather workflow on test-data's real VCF slice (3 shards, one of them empty): the
    gathered table and records equal one unsharded isoformer variants run."""
    if subprocess.run([exe, "variants", "--help"], capture_output=True).returncode != 0:
        print("note: 'isoformer variants' not built yet: the variants workflow is not run")
        return
    inputs = {k: os.path.join(ROOT, v[len(RELEASE_URL):]) if isinstance(v, str) and v.startswith(RELEASE_URL) else v
              for k, v in json.load(open(os.path.join(WDL_DIR, "test-inputs-variants.json"))).items()}
    inputs.update({"isoformer_variants.n_shards": 3, "isoformer_variants.variants.cpu": 2})
    path = os.path.join(work, "variants.inputs.json")
    with open(path, "w") as f:
        json.dump(inputs, f, indent=1)
    r = miniwdl("run", VARIANTS, "-i", path, "-d", os.path.join(work, "variants"), "--verbose")
    if not check(r.returncode == 0, "variants workflow: miniwdl run exits 0 " + (r.stderr.strip()[-600:] if r.returncode else "")):
        return
    outs = outputs_of(os.path.join(work, "variants", "_LAST"))
    whole = os.path.join(work, "variants.whole")
    p = subprocess.run([exe, "variants", "--model", os.path.dirname(inputs["isoformer_variants.model"]),
                        "--vcf", inputs["isoformer_variants.vcf"], "--fasta", inputs["isoformer_variants.fasta"],
                        "--gtf", inputs["isoformer_variants.gtf"], "--chrom-alias", inputs["isoformer_variants.chrom_alias"],
                        "--max-distance", "200000", "--device", "cpu", "--threads", "2", "--out", whole],
                       capture_output=True, text=True)
    if check(p.returncode == 0, f"unsharded isoformer variants {p.stderr.strip()[-300:]}"):
        a, b = open(whole + ".variants.tsv", "rb").read(), open(outs["isoformer_variants.variants_tsv"], "rb").read()
        check(a == b and a.count(b"\n") > 2, "variants workflow: gathered table byte-identical to one unsharded run")
        check(len(outs["isoformer_variants.variants_vcf_index"]) == 1, "variants workflow: the VCF's index")


def run_quant_task(inputs):
    """The quant task on reads simulated from the test annotation (test-data/rnaseq.bam has none in its exons),
    with strand, coverage and threads inputs, must write what `isoformer quant` writes on the same files."""
    if subprocess.run([exe, "quant", "--help"], capture_output=True).returncode != 0:
        print("note: 'isoformer quant' not built yet: the quant task is not run")
        return
    bam = SIMULATED_BAM
    args = {"bam": bam, "bam_index": bam + ".bai",
            "gtf": inputs["isoformer_scatter.gtf"], "chrom_alias": inputs["isoformer_scatter.chrom_alias"]}
    path = os.path.join(work, "quant.inputs.json")
    with open(path, "w") as f:
        json.dump(dict(args, prefix="q", strand="none", coverage=True, num_bootstraps=2, cpu=2), f)
    r = miniwdl("run", os.path.join(WDL_DIR, "isoformer_tasks.wdl"), "--task", "quant", "-i", path,
                "-d", os.path.join(work, "quant"))
    if not check(r.returncode == 0, "quant task exits 0 " + (r.stderr.strip()[-600:] if r.returncode else "")):
        return
    direct = os.path.join(work, "quant.direct")
    p = subprocess.run([exe, "quant", "--bam", args["bam"], "--gtf", args["gtf"], "--chrom-alias",
                        args["chrom_alias"], "--strand", "none", "--coverage", "--num-bootstraps", "2", "--out", direct],
                       capture_output=True, text=True)
    outs = outputs_of(os.path.join(work, "quant", "_LAST"))
    for key, suffix in (("quant.quant_sf", ".quant.sf"), ("quant.genes", ".genes.tsv")):
        a = open(direct + suffix, "rb").read() if p.returncode == 0 else None
        check(a is not None and a == open(outs[key], "rb").read() and a.count(b"\n") > 1,
              f"quant task {suffix} byte-identical to isoformer quant on the same files")
    tracks = outs.get("quant.coverage_bigwigs", [])
    check([os.path.basename(t) for t in tracks] == ["q.coverage.bw"] and
          open(tracks[0], "rb").read() == open(direct + ".coverage.bw", "rb").read(),
          f"quant task coverage = true: the coverage bigWig, equal to isoformer quant --coverage's {tracks}")
    boots = {os.path.basename(p): p for p in outs.get("quant.bootstraps", [])}
    check(sorted(boots) == ["bootstraps.gz", "names.tsv.gz"] and all(
        gzip.open(p).read() == gzip.open(os.path.join(work, "aux_info", "bootstrap", n)).read() for n, p in boots.items()),
          f"quant task num_bootstraps = 2: salmon's bootstrap files, equal to isoformer quant --num-bootstraps 2's {sorted(boots)}")


def run_real_once(inputs, label):
    """The workflow on these inputs against one unsharded predict run the plain way (the model directory the
    task rebuilds from model + model_config, the FASTA with its indexes beside it)."""
    r = run_workflow(inputs, os.path.join(work, label))
    if not check(r.returncode == 0, f"{label}: miniwdl run exits 0 " + (r.stderr.strip()[-600:] if r.returncode else "")):
        return
    run_dir = os.path.join(work, label, "_LAST")
    shard_tsvs = [outputs_of(os.path.join(run_dir, f"call-predict-{i}"))["predict.tsv"] for i in (0, 1)]
    print(f"note: {label}: transcripts per shard {[sum(1 for _ in open(t)) - 1 for t in shard_tsvs]}")
    whole = os.path.join(work, label + ".whole")
    os.makedirs(whole)
    p = subprocess.run([exe, "predict", "--model", os.path.dirname(inputs["isoformer_scatter.model"]),
                        "--fasta", inputs["isoformer_scatter.fasta"], "--gtf", inputs["isoformer_scatter.gtf"],
                        "--chrom-alias", inputs["isoformer_scatter.chrom_alias"],
                        "--device", "cpu", "--threads", "2", "--out", os.path.join(whole, "test")],
                       capture_output=True, text=True)
    if check(p.returncode == 0, f"{label}: unsharded isoformer predict {p.stderr.strip()[-300:]}"):
        compare(os.path.join(whole, "test"), outputs_of(run_dir), inputs["isoformer_scatter.fasta"] + ".fai", label)


# ---- plumbing: a stand-in predict, the real merge ----

STANDIN = r'''#!PYTHON
# Stand-in for `isoformer predict` (tests/pipelines/test_wdl.py plumbing): writes the documented outputs for the
# transcripts of a tiny GTF, shard i/n taking genes i, i+n, ...; every other subcommand runs the real binary.
import json, os, sys, zlib
import pyBigWig
if sys.argv[1] != "predict":
    os.execv(REAL, [REAL] + sys.argv[1:])
a = dict(zip(sys.argv[2::2], sys.argv[3::2]))
print("stand-in predict --precision", a.get("--precision"), file=sys.stderr)
gtf = [l.rstrip("\n").split("\t") for l in open(a["--gtf"]) if l.strip()]
if any(len(f) != 9 for f in gtf):
    sys.exit("isoformer predict: " + a["--gtf"] + ": expected 9 tab-separated fields")
i, n = map(int, a.get("--shard", "1/1").split("/"))
tx = {}
for f in gtf:
    tid, gid = f[8].split('"')[3], f[8].split('"')[1]
    tx.setdefault(tid, dict(gene=gid, chrom=f[0], strand=f[6], exons=[]))["exons"].append((int(f[3]) - 1, int(f[4])))
genes = sorted({t["gene"] for t in tx.values()})
mine = {k: t for k, t in tx.items() if genes.index(t["gene"]) % n == i - 1}
rows = sorted(mine, key=lambda k: (mine[k]["chrom"].encode(), mine[k]["exons"][0][0], mine[k]["exons"][-1][1], k.encode()))
val = lambda k, j: (sum(map(ord, k)) * (j + 3)) % 97 / 10
out = a["--out"]
with open(out + ".predictions.tsv", "w") as f:
    f.write("transcript_id\tgene_id\tgene_name\tchrom\tstart\tend\tstrand\tBrain\tLiver\n")
    for k in rows:
        t = mine[k]
        f.write(f"{k}\t{t['gene']}\t{t['gene']}\t{t['chrom']}\t{t['exons'][0][0]}\t{t['exons'][-1][1]}\t{t['strand']}\t{val(k, 0):g}\t{val(k, 1):g}\n")
with open(out + ".predictions.bed", "w") as f:
    f.write('track name="isoformer" itemRgb="On"\n')
    for k in rows:
        t = mine[k]; s = t["exons"][0][0]
        f.write(f"{t['chrom']}\t{s}\t{t['exons'][-1][1]}\t{k}\t0\t{t['strand']}\t{s}\t{s}\t0,0,255\t{len(t['exons'])}\t"
                + "".join(f"{e - b}," for b, e in t["exons"]) + "\t" + "".join(f"{b - s}," for b, e in t["exons"]) + "\n")
for j, tissue in enumerate(("Brain", "Liver")):
    bw = pyBigWig.open(f"{out}.{tissue}.bw", "w")
    bw.addHeader(CONTIGS)
    for chrom, size in CONTIGS:
        cov = {}
        for k in rows:
            if mine[k]["chrom"] == chrom:
                for s, e in mine[k]["exons"]:
                    for p in range(s, e):
                        cov[p] = max(cov.get(p, -1.0), val(k, j))
        ps = sorted(cov)
        if ps:
            bw.addEntries([chrom] * len(ps), ps, ends=[p + 1 for p in ps], values=[cov[p] for p in ps])
    bw.close()
# the run manifest, last, as docs/pipelines.md describes it: what merge checks the shards against
files = [out + s for s in (".predictions.tsv", ".predictions.bed", ".Brain.bw", ".Liver.bw")]
listed = [dict(name=os.path.basename(p), bytes=os.path.getsize(p), crc32="%08x" % zlib.crc32(open(p, "rb").read()))
          for p in files]
with open(out + ".run.json", "w") as f:
    json.dump({"isoformer_run": 1, "version": "0.1.0", "command": "predict", "config": "model=stand-in window=1000",
               "selection": None, "shard": a.get("--shard"), "files": listed}, f)
'''


def run_plumbing():
    bindir = os.path.join(work, "bin")
    os.makedirs(bindir)
    contigs = [("chr1", 5000), ("chr2", 3000)]
    standin = os.path.join(bindir, "isoformer")
    with open(standin, "w") as f:
        f.write(STANDIN.replace("PYTHON", sys.executable, 1).replace("REAL", repr(exe))
                .replace("CONTIGS", repr(contigs)))
    os.chmod(standin, 0o755)
    fasta = os.path.join(work, "genome.fa")
    with open(fasta, "w") as f:
        for chrom, size in contigs:
            f.write(f">{chrom}\n" + "ACGT" * (size // 4) + "\n")
    with open(fasta + ".fai", "w") as f:
        offset = 0
        for chrom, size in contigs:
            offset += len(chrom) + 2
            f.write(f"{chrom}\t{size}\t{offset}\t{size}\t{size + 1}\n")
            offset += size + 1
    gtf = os.path.join(work, "genes.gtf")
    with open(gtf, "w") as f:
        for g, (chrom, start, n_tx) in enumerate([("chr1", 100, 2), ("chr1", 900, 1), ("chr2", 50, 3),
                                                 ("chr1", 950, 1), ("chr2", 2000, 2)]):
            for t in range(n_tx):
                for e in range(2):
                    s = start + 300 * e + 20 * t
                    f.write(f'{chrom}\ttest\texon\t{s + 1}\t{s + 150}\t.\t+\t.\tgene_id "G{g}"; transcript_id "T{g}.{t}";\n')
    model = os.path.join(work, "model.safetensors")
    open(model, "w").close()
    with open(os.path.join(work, "config.json"), "w") as f:
        f.write("{}\n")
    inputs = {"isoformer_scatter.fasta": fasta, "isoformer_scatter.fasta_fai": fasta + ".fai",
              "isoformer_scatter.gtf": gtf, "isoformer_scatter.model": model,
              "isoformer_scatter.model_config": os.path.join(work, "config.json"), "isoformer_scatter.sample_id": "test",
              "isoformer_scatter.n_shards": 3, "isoformer_scatter.use_gpu": False}
    r = run_workflow(inputs, os.path.join(work, "run"), path_prefix=bindir)
    if check(r.returncode == 0, "miniwdl run of the scatter/gather workflow exits 0 " +
             (r.stderr.strip()[-800:] if r.returncode else "")):
        whole = os.path.join(work, "whole")
        os.makedirs(whole)
        p = subprocess.run([standin, "predict", "--gtf", gtf, "--out", os.path.join(whole, "test")])
        outs = outputs_of(os.path.join(work, "run", "_LAST"))
        calls = [d for d in os.listdir(os.path.join(work, "run", "_LAST")) if d.startswith("call-predict")]
        check(len(calls) == 3, f"3 predict shards ran: {sorted(calls)}")
        if check(p.returncode == 0, "stand-in unsharded run"):
            compare(os.path.join(whole, "test"), outs, fasta + ".fai")
    with open(os.path.join(work, "broken.gtf"), "w") as f:
        f.write("chr1\tonly three\tfields\n")
    r = run_workflow(dict(inputs, **{"isoformer_scatter.gtf": os.path.join(work, "broken.gtf")}),
                     os.path.join(work, "failing"), path_prefix=bindir)
    check(r.returncode != 0 and "expected 9 tab-separated fields" in r.stderr,
          f"a failing predict task fails the workflow (miniwdl exit {r.returncode})")
    run_precision_auto(dict(inputs, **{"isoformer_scatter.gtf": gtf}), bindir)


def run_precision_auto(inputs, bindir):
    """predict's precision = auto on a GPU task: a stand-in nvidia-smi reports the compute capability (or fails)."""
    task_inputs = {k.split(".", 1)[1]: v for k, v in inputs.items() if k.split(".", 1)[1] in (
        "fasta", "fasta_fai", "gtf", "model", "model_config")}
    for capability, want in (("8.9", "bf16"), ("7.5", "fp32"), (None, "fp32")):
        with open(os.path.join(bindir, "nvidia-smi"), "w") as f:
            f.write(f"#!/bin/sh\necho {capability}\n" if capability else "#!/bin/sh\nexit 9\n")
        os.chmod(os.path.join(bindir, "nvidia-smi"), 0o755)
        path = os.path.join(work, f"precision-{capability}.json")
        with open(path, "w") as f:
            json.dump(dict(task_inputs, prefix="p", use_gpu=True), f)
        out = os.path.join(work, f"precision-{capability}")
        r = miniwdl("run", os.path.join(WDL_DIR, "isoformer_tasks.wdl"), "--task", "predict", "-i", path, "-d", out,
                    path_prefix=bindir)
        log = open(os.path.join(out, "_LAST", "stderr.txt")).read() if r.returncode == 0 else r.stderr[-400:]
        check(f"stand-in predict --precision {want}" in log,
              f"precision auto on compute capability {capability}: --precision {want} ({log.strip()[-200:]})")


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
{"check": run_check, "run": run_real, "plumbing": run_plumbing}[mode]()
finish()
