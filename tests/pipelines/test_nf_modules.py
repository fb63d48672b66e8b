"""Runs our Nextflow modules' script:/stub: blocks, rendered as Nextflow would (nf_render.py), with bash against the
real isoformer binary, on the inputs their nf-tests (tests/main.nf.test) give them; checks every declared output
and the versions topic, and builds what each nf-test's snapshot() would hold, in nf-test's format, which must
equal the committed tests/main.nf.test.snap (ISOFORMER_UPDATE_SNAPSHOTS=1 rewrites it instead).

usage: test_nf_modules.py ISOFORMER MODE WORKDIR
  MODE stub:<module>   the stub block, CPU and GPU task variants
  MODE script:<module> the script block on conf/test.config's inputs (predict on GPU too when nvidia-smi sees one;
                       variantsgather: variants shards 1/3..3/3 gathered, against one unsharded variants run)
  MODE scatter         ISOFORMER_SCATTER by hand (predict shards 1/2 and 2/2, merge) against one unsharded predict,
                       and the subworkflow's nf-test snapshots
Exit 77 (a skipped ctest) when a subcommand the module needs is not built yet or an input is missing."""
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from bx.bbi.bigwig_file import BigWigFile

from checks import check, finish, skip
from nf_render import outputs, render

HERE = os.path.dirname(os.path.abspath(__file__))
NEXTFLOW = os.path.join(HERE, "..", "..", "nextflow")
UPDATE = os.environ.get("ISOFORMER_UPDATE_SNAPSHOTS") == "1"
exe, mode, work = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
env = dict(os.environ, PATH=os.path.dirname(exe) + os.pathsep + os.environ["PATH"])



def test_params():
    """params of conf/test.config (the pipeline's test profile and the nf-tests'), ${projectDir} resolved."""
    text = open(os.path.join(NEXTFLOW, "conf", "test.config")).read()
    return {k: v.replace("${projectDir}", NEXTFLOW) for k, v in re.findall(r'^\s*(\w+)\s*=\s*"([^"]*)"', text, re.M)}


def need_commands(*cmds):
    missing = [c for c in cmds if subprocess.run([exe, c, "--help"], capture_output=True).returncode != 0]
    if missing:
        skip(f"'isoformer {' / '.join(missing)} --help' fails: subcommand not built yet")


def need_files(params, *names):
    missing = [params[n] for n in names if not os.path.exists(params[n])]
    if missing:
        skip(f"inputs missing: {', '.join(missing)}")


def module_source(name):
    return open(os.path.join(NEXTFLOW, "modules", "isoformer", name, "main.nf")).read()


def task(process, gpu, args=""):
    return {"process": f"ISOFORMER_{process.upper()}", "cpus": 2, "memory": "6 GB", "attempt": 1,
            "ext": {"args": args, "prefix": None}, "accelerator": {"request": 1} if gpu else None}


def context(name, gpu, inputs, args="", meta_id="test"):
    return {"task": task(name, gpu, args), "meta": {"id": meta_id}, "meta2": {"id": "ref"}, "meta3": {"id": "model"},
            **inputs}


def stage(taskdir, files):
    """Links inputs into the task directory under their names, as Nextflow stages them."""
    for rel, src in files.items():
        dst = os.path.join(taskdir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.symlink(os.path.abspath(src), dst)


def glob_regex(pattern):
    """A Nextflow path glob as a regex: * and {a,b} alternatives."""
    out, depth = [], 0
    for c in pattern:
        depth += (c == "{") - (c == "}")
        out.append(".*" if c == "*" else "(?:" if c == "{" else ")" if c == "}" else "|" if c == "," and depth
                   else re.escape(c))
    return "".join(out)


class Task:
    """A finished task: its directory, meta, and emitted channels {emit: value} as Nextflow emits them (a path
    glob with one match gives the path, several a sorted list; an eval tuple its three values; None: nothing)."""

    def __init__(self, taskdir, meta, out):
        self.dir, self.meta, self.out = taskdir, meta, out

    def path(self, emit):
        return self.out[emit]


def run_task(name, label, ctx, files, taskdir):
    """Renders and runs one task; returns a Task when it succeeded with all declared outputs, else None."""
    shutil.rmtree(taskdir, ignore_errors=True)
    os.makedirs(taskdir)
    source = module_source(name)
    command, scope = render(source, label, ctx)
    stage(taskdir, files)
    with open(os.path.join(taskdir, ".command.sh"), "w") as f:
        f.write("#!/bin/bash -euo pipefail\n" + command)
    r = subprocess.run(["bash", "-euo", "pipefail", ".command.sh"], cwd=taskdir, env=env, capture_output=True,
                       text=True)
    tag = f"{ctx['task']['process']} {label} ({'GPU' if ctx['task']['accelerator'] else 'CPU'})"
    if not check(r.returncode == 0, f"{tag}: exit {r.returncode} {r.stderr.strip()[-300:]}"):
        return None
    ok, out = True, {}
    for emit, kind, value, optional in outputs(source, scope):
        if kind == "path":
            found = sorted(os.path.join(taskdir, p) for p in os.listdir(taskdir) if re.fullmatch(glob_regex(value), p))
            ok &= check(bool(found) or optional, f"{tag}: output {emit} '{value}' -> {found[:3]}")
            out[emit] = (found[0] if len(found) == 1 else found) if found else None
        else:
            v = subprocess.run(["bash", "-c", value], cwd=taskdir, env=env, capture_output=True, text=True)
            ok &= check(v.returncode == 0 and v.stdout.strip() == "0.1.0",
                        f"{tag}: topic versions eval '{value}' -> {v.stdout.strip()!r}")
            out[emit] = [ctx["task"]["process"], "isoformer", v.stdout.strip()]
    return Task(taskdir, ctx["meta"], out) if ok else None


# ---- nf-test snapshots: what `snapshot(...)` in the nf-tests holds, serialised as nf-test does ----

def nft_path(p):
    """A path as nf-test serialises it: a file as 'name:md5,<md5 of the content>', a directory as the list of
    its entries, by name."""
    if os.path.isdir(p):
        return [nft_path(os.path.join(p, e)) for e in sorted(os.listdir(p))]
    return f"{os.path.basename(p)}:md5,{hashlib.md5(open(p, 'rb').read()).hexdigest()}"


def nft_value(v):
    if isinstance(v, list):
        return [nft_value(x) for x in v]
    return nft_path(v) if isinstance(v, str) and os.path.isabs(v) else v


def versions(t):
    """process.out.findAll { key, val -> key.startsWith('versions') }"""
    return {k: [v] for k, v in t.out.items() if k.startswith("versions")}


def sanitized(t):
    """sanitizeOutput(process.out) (nft-utils): the named channels, each a list of what it emitted."""
    return {k: [] if v is None else [v if k.startswith("versions") else [t.meta, nft_value(v)]]
            for k, v in sorted(t.out.items())}


def lines(p):
    return open(p).read().splitlines()


def tsv_ids(p):
    """path(tsv).readLines().collect { line -> line.split('\\t')[0..6].join('\\t') }"""
    return ["\t".join(x.split("\t")[:7]) for x in lines(p)]


def bed_stable(p):
    """Every BED field but score and itemRgb (4 and 8), which come from predicted values."""
    return ["\t".join(f for i, f in enumerate(x.split("\t")) if i not in (4, 8)) for x in lines(p)]


def names(v):
    """[ v ].flatten().collect { f -> file(f).name }.sort()"""
    return sorted(os.path.basename(p) for p in (v if isinstance(v, list) else [v]))


def match_snapshot(test_file, test_name, content):
    """snapshot(*content).match() of test `test_name` in `test_file`, against its .snap file."""
    snap_path = test_file + ".snap"
    snap = json.load(open(snap_path)) if os.path.exists(snap_path) else {}
    content = json.loads(json.dumps(content))
    if UPDATE:
        snap[test_name] = {"content": content, "meta": {"made-by": "tests/pipelines/test_nf_modules.py"}}
        with open(snap_path, "w") as f:
            json.dump(dict(sorted(snap.items())), f, indent=4)
            f.write("\n")
        print(f"note: wrote snapshot '{test_name}' in {os.path.relpath(snap_path, NEXTFLOW)}")
        return
    want = snap.get(test_name, {}).get("content")
    check(want == content, f"snapshot '{test_name}' of {os.path.relpath(test_file, NEXTFLOW)} matches"
                           + ("" if want == content else f"\n     committed: {json.dumps(want)[:600]}"
                                                         f"\n     now:       {json.dumps(content)[:600]}"))


def module_test(name):
    return os.path.join(NEXTFLOW, "modules", "isoformer", name, "tests", "main.nf.test")


# ---- the tasks, on the inputs the nf-tests give them ----

def predict(params, taskdir, shard="", gpu=False, args="", prefix=None, gtf=None, meta_id="test"):
    """The predict script on conf/test.config's files (or another GTF), staged under their own names as
    Nextflow stages them: the model directory, the bgzipped FASTA with its .fai and .gzi beside it, the
    chromAlias file that maps the annotation's 'chr20' to the FASTA's '20'."""
    src = [params["fasta"], gtf or params["gtf"], params["model"]]
    index = [params["fasta"] + ext for ext in (".fai", ".gzi")]
    files = {os.path.basename(p): p for p in src + index + [params["chrom_alias"]]}
    fasta, gtf_name, model = map(os.path.basename, src)
    inputs = {"fasta": fasta, "gtf": gtf_name, "model": model, "fasta_index": [os.path.basename(p) for p in index],
              "chrom_alias": os.path.basename(params["chrom_alias"]), "shard": shard}
    ctx = context("predict", gpu, inputs, args, meta_id)
    ctx["task"]["ext"]["prefix"] = prefix
    command, _ = render(module_source("predict"), "script", ctx)
    flat = " ".join(command.replace("\\\n", " ").split())
    check(f"--device {'cuda' if gpu else 'cpu'}" in flat and (f"--shard {shard}" in flat) == bool(shard)
          and f"--chrom-alias {inputs['chrom_alias']}" in flat,
          f"predict command for {'GPU' if gpu else 'CPU'} shard '{shard}': {flat}")
    return run_task("predict", "script", ctx, files, taskdir)


def check_predicted_rows(params, tsv, gtf=None):
    """One row per transcript of the GTF, on the FASTA's contig names (the chromAlias was applied)."""
    want = set(re.findall(r'transcript_id "([^"]+)"', open(gtf or params["gtf"]).read()))
    contigs = {line.split("\t")[0] for line in open(params["fasta"] + ".fai")}
    rows = [line.split("\t") for line in lines(tsv)][1:]
    check(sorted(r[0] for r in rows) == sorted(want) and {r[3] for r in rows} <= contigs,
          f"predict: {len(rows)} rows, one per GTF transcript ({len(want)}), on FASTA contigs {sorted(contigs)}")


def quant(params, taskdir, gtf=None, args="", strandedness=None):
    """The quant script on conf/test.config's BAM (reads simulated from the annotation) with its .bai beside it,
    the GTF and the chromAlias file, staged under their own names."""
    files = {os.path.basename(p): p for p in (params["bam"], params["bam"] + ".bai", gtf or params["gtf"],
                                               params["chrom_alias"])}
    bam, bai, gtf_name, alias = files
    ctx = context("quant", False, {"bam": bam, "bai": bai, "gtf": gtf_name, "chrom_alias": alias}, args)
    if strandedness:
        ctx["meta"]["strandedness"] = strandedness
    t = run_task("quant", "script", ctx, files, taskdir)
    if t:
        want = set(re.findall(r'transcript_id "([^"]+)"', open(gtf or params["gtf"]).read()))
        rows = [x.split("\t") for x in lines(t.path("quant"))][1:]
        reads = sum(float(r[4]) for r in rows)
        check(sorted(r[0] for r in rows) == sorted(want) and reads > 0,
              f"quant: {len(rows)} rows, one per GTF transcript ({len(want)}), {reads:g} reads assigned through "
              "the chromAlias")
    return t


def predict_shards(params, base, gtf, args=""):
    """predict for shards 1/2 and 2/2, meta.id test.shard<i>of2 (the merge nf-test's setup)."""
    return [predict(params, os.path.join(base, f"shard{i}"), shard=f"{i}/2", gtf=gtf, meta_id=f"test.shard{i}of2",
                    args=args) for i in (1, 2)]


def merge(shards, taskdir, label="script"):
    """merge on the shards' TSV, BED, bigWigs, run manifests and embeddings (which a manifest lists when predict
    wrote them), staged as shards/<name>, as ISOFORMER_SCATTER gathers them."""
    emits = ("tsv", "bed", "bigwig", "manifest", "embeddings")
    files = {f"shards/{os.path.basename(p)}": p for t in shards for e in emits
             for p in ([] if t.out[e] is None else t.out[e] if isinstance(t.out[e], list) else [t.out[e]])}
    return run_task("merge", label, context("merge", False, {"shard_files": sorted(files)}), files, taskdir)


def predicted_content(t):
    return [versions(t), tsv_ids(t.path("tsv")), bed_stable(t.path("bed")), names(t.path("bigwig"))]


VARIANTS_ARGS = "--max-distance 200000"  # variants' and variantsgather's tests/nextflow.config


def variants(params, taskdir, shard="", gpu=False, meta_id="test"):
    """The variants script on conf/test.config's VCF (the real vt-examples indel), FASTA with its indexes, GTF,
    model and chromAlias, staged under their own names."""
    src = [params["vcf"], params["fasta"], params["gtf"], params["model"]]
    index = [params["fasta"] + ext for ext in (".fai", ".gzi")]
    files = {os.path.basename(p): p for p in src + index + [params["chrom_alias"]]}
    vcf, fasta, gtf, model = map(os.path.basename, src)
    inputs = {"vcf": vcf, "vcf_index": [], "shard": shard, "fasta": fasta, "gtf": gtf, "model": model,
              "fasta_index": [os.path.basename(p) for p in index], "chrom_alias": os.path.basename(params["chrom_alias"])}
    ctx = context("variants", gpu, inputs, VARIANTS_ARGS, meta_id)
    command, _ = render(module_source("variants"), "script", ctx)
    flat = " ".join(command.replace("\\\n", " ").split())
    check(f"--device {'cuda' if gpu else 'cpu'}" in flat and (f"--shard {shard}" in flat) == bool(shard)
          and f"--vcf {vcf}" in flat, f"variants command for {'GPU' if gpu else 'CPU'} shard '{shard}': {flat}")
    return run_task("variants", "script", ctx, files, taskdir)


def variants_content(t):
    """The variants nf-tests' snapshot: versions, the table's first 10 columns, the records' first 5, the index."""
    with gzip.open(t.path("vcf"), "rt") as f:
        records = ["\t".join(x.rstrip("\n").split("\t")[:5]) for x in f if not x.startswith("#")]
    return [versions(t), ["\t".join(x.split("\t")[:10]) for x in lines(t.path("tsv"))], records,
            os.path.basename(t.path("index"))]


# ---- modes ----

def run_stub(name, params):
    """Each stub (CPU and GPU task), on placeholder inputs named as the nf-test names them; the CPU run gives the
    'test-data - stub' snapshot (stubs write fixed content)."""
    inputs_dir = os.path.join(work, "inputs")
    os.makedirs(inputs_dir)
    placeholder = {}
    for n in ("genome.fa.gz", "annotation.gtf", "demo-model", "simulated.bam", "simulated.bam.bai", "chromAlias.txt",
              "test.predictions.tsv", "test.embeddings.tsv", "test.quant.sf", "vt-chr20.vcf"):
        placeholder[n] = os.path.join(inputs_dir, n)
        open(placeholder[n], "w").close()
    inputs = {
        "predict": {"fasta": "genome.fa.gz", "gtf": "annotation.gtf", "model": "demo-model", "fasta_index": [],
                    "chrom_alias": "chromAlias.txt", "shard": ""},
        "quant": {"bam": "simulated.bam", "bai": "simulated.bam.bai", "gtf": "annotation.gtf", "chrom_alias": "chromAlias.txt"},
        "eval": {"predictions": "test.predictions.tsv", "observed": "test.quant.sf"},
        "fit": {"embeddings": "test.embeddings.tsv", "observed": "test.quant.sf"},
        "merge": {"shard_files": []},
        "variants": {"vcf": "vt-chr20.vcf", "vcf_index": [], "shard": "", "fasta": "genome.fa.gz", "gtf": "annotation.gtf",
                     "model": "demo-model", "fasta_index": [], "chrom_alias": "chromAlias.txt"},
        "variantsgather": {"shard_files": []},
    }[name]
    args = "--coverage --num-bootstraps 2" if name == "quant" else ""  # as quant's tests/nextflow.config
    for gpu in (False, True):
        t = run_task(name, "stub", context(name, gpu, inputs, args), placeholder,
                     os.path.join(work, f"stub-{'gpu' if gpu else 'cpu'}"))
        if t and not gpu:
            match_snapshot(module_test(name), "test-data - stub", [sanitized(t)])


def run_variants_script(name, params):
    """variants on the real VCF slice; variantsgather: shards 1/3, 2/3 (empty) and 3/3 gathered, against one
    unsharded run (table and plot byte-identical)."""
    need_commands("variants")
    need_files(params, "vcf", "fasta", "gtf", "model", "chrom_alias")
    whole = variants(params, os.path.join(work, "whole"))
    if whole:
        rows = [x.split("\t") for x in lines(whole.path("tsv"))][1:]
        check(rows and {r[0] for r in rows} == {"20"}, f"variants: {len(rows)} rows on the VCF's contig")
    if name == "variants":
        if whole:
            match_snapshot(module_test(name), "test-data", variants_content(whole))
        command, _ = render(module_source("variants"), "script", context("variants", True, {
            "vcf": "v.vcf", "vcf_index": [], "shard": "", "fasta": "g.fa", "gtf": "a.gtf", "model": "m",
            "fasta_index": [], "chrom_alias": []}))
        check("--device cuda" in command, "variants: the GPU task passes --device cuda")
        return
    shards = [variants(params, os.path.join(work, f"shard{i}"), shard=f"{i}/3", meta_id=f"test.shard{i}of3")
              for i in (1, 2, 3)]
    if not whole or not all(shards):
        return
    files = {f"shards/{os.path.basename(p)}": p for t in shards for e in ("vcf", "index", "tsv", "svg")
             for p in [t.out[e]]}
    t = run_task("variantsgather", "script", context("variantsgather", False, {"shard_files": sorted(files)}), files,
                 os.path.join(work, "gather"))
    if t:
        for emit in ("tsv", "svg"):
            a, b = open(whole.path(emit), "rb").read(), open(t.path(emit), "rb").read()
            check(a == b and a.count(b"\n") > 1, f"variants scatter/gather: {emit} identical to one run")
        match_snapshot(module_test(name), "test-data", variants_content(t))


def run_script(name, params):
    if name in ("variants", "variantsgather"):
        return run_variants_script(name, params)
    needs = {"predict": ["predict"], "merge": ["predict", "merge"], "quant": ["quant"],
             "eval": ["predict", "quant", "eval"], "fit": ["predict", "quant", "fit"]}[name]
    need_commands(*needs)
    need_files(params, "fasta", "gtf", "gtf_split", "model", "chrom_alias", "bam")
    test = module_test(name)
    if name == "predict":
        t = predict(params, os.path.join(work, "cpu"))
        if t:
            check_predicted_rows(params, t.path("tsv"))
            match_snapshot(test, "test-data", predicted_content(t))
        if have_gpu():
            g = predict(params, os.path.join(work, "gpu"), gpu=True)
            if g:
                match_snapshot(test.replace("main.nf.test", "main.gpu.nf.test"), "test-data - gpu",
                               predicted_content(g))
        else:
            print("note: no GPU here, GPU variant rendered but not run")
    elif name == "quant":
        # tests/nextflow.config adds --coverage --num-bootstraps 2: the track and aux_info/ are declared outputs
        t = quant(params, os.path.join(work, "quant"), args="--coverage --num-bootstraps 2")
        if t:
            aux = t.path("aux_info")
            check(t.path("coverage") is not None and aux is not None and
                  os.path.isfile(os.path.join(aux or "", "bootstrap", "bootstraps.gz")),
                  f"quant --coverage --num-bootstraps 2: outputs coverage {t.path('coverage')}, aux_info {aux}")
            match_snapshot(test, "test-data", [versions(t), ["\t".join(x.split("\t")[:2]) for x in lines(t.path("quant"))],
                                               [x.split("\t")[0] for x in lines(t.path("genes"))], names(t.path("coverage")),
                                               sorted(os.listdir(aux)) if aux else None])
        for strandedness, flag in (("forward", "fr"), ("reverse", "rf"), ("unstranded", "none"), (None, "auto")):
            ctx = context("quant", False, {"bam": "b.bam", "bai": "b.bam.bai", "gtf": "g.gtf", "chrom_alias": []})
            if strandedness:
                ctx["meta"]["strandedness"] = strandedness
            command, _ = render(module_source("quant"), "script", ctx)
            check(f"--strand {flag} " in command and "--threads 2 " in command,
                  f"quant: meta.strandedness {strandedness} gives --strand {flag}, --threads task.cpus")
        quant(params, os.path.join(work, "quant-unstranded"), strandedness="unstranded")
    elif name == "merge":
        shards = predict_shards(params, work, params["gtf_split"])
        if all(shards):
            t = merge(shards, os.path.join(work, "merge"))
            if t:
                check_predicted_rows(params, t.path("tsv"), params["gtf_split"])
                match_snapshot(test, "test-data", predicted_content(t))
    else:
        gtf = params["gtf"] if name == "eval" else params["gtf_split"]  # fit: CV folds grouped by gene need genes
        p = predict(params, os.path.join(work, "predict"), gtf=gtf, args="--embeddings" if name == "fit" else "")
        q = quant(params, os.path.join(work, "quant"), gtf=gtf)
        if p and q:
            first = p.path("tsv" if name == "eval" else "embeddings")
            inputs = {"predictions" if name == "eval" else "embeddings": os.path.basename(first),
                      "observed": os.path.basename(q.path("quant"))}
            files = {os.path.basename(first): first, os.path.basename(q.path("quant")): q.path("quant")}
            t = run_task(name, "script", context(name, False, inputs), files, os.path.join(work, name))
            if t and name == "eval":
                match_snapshot(test, "test-data", [versions(t), [x.split("\t")[0] for x in lines(t.path("tsv"))],
                                                   os.path.basename(t.path("svg"))])
            elif t:
                match_snapshot(test, "test-data", [versions(t), [x.split("\t")[0] for x in lines(t.path("head"))]])


def have_gpu():
    return shutil.which("nvidia-smi") and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def run_scatter(params):
    """ISOFORMER_SCATTER by hand: predict shards 1/2 and 2/2, merge their files, compare with one run; on the
    test-data annotation (shard 2/2 empty) and on the copy with one gene per transcript (both shards used),
    whose merged outputs are also the subworkflow nf-test's snapshot."""
    test = os.path.join(NEXTFLOW, "subworkflows", "isoformer_scatter", "tests", "main.nf.test")
    for label, gtf in (("annotation", params["gtf"]), ("split genes", params["gtf_split"])):
        merged = scatter_once(params, label, gtf, os.path.join(work, label.replace(" ", "_")))
        if merged and gtf == params["gtf_split"]:
            match_snapshot(test, "test-data - 2 shards", predicted_content(merged)[1:])
    scatter_embeddings(params, os.path.join(work, "embeddings"))
    stubs = [run_task("predict", "stub", context("predict", False, {}, meta_id=f"test.shard{i}of2"), {},
                      os.path.join(work, f"stub-shard{i}")) for i in (1, 2)]
    if all(stubs):
        t = merge(stubs, os.path.join(work, "stub-merge"), label="stub")
        if t:
            match_snapshot(test, "test-data - 2 shards - stub", [{k: v for k, v in sanitized(t).items()
                                                                  if not k.startswith("versions")}])


def scatter_embeddings(params, base):
    """--embeddings in predict's ext.args (the input of fit): ISOFORMER_SCATTER must give the embeddings of one
    unsharded run, byte for byte (rows in the order of an unsharded run), both shards holding transcripts."""
    gtf = params["gtf_split"]
    whole = predict(params, os.path.join(base, "whole"), gtf=gtf, args="--embeddings")
    shards = predict_shards(params, base, gtf, args="--embeddings")
    if not whole or not all(shards):
        return
    rows = [len(lines(t.path("embeddings"))) - 1 for t in shards]
    merged = merge(shards, os.path.join(base, "merge"))
    if merged:
        got = merged.out.get("embeddings")
        a = open(whole.path("embeddings"), "rb").read()
        check(got is not None and open(got, "rb").read() == a and a.count(b"\n") == 8 and min(rows) > 0,
              f"--embeddings: the merged embeddings ({got}) byte-identical to one unsharded run's (shards of {rows} rows)")
    # predict without --embeddings: merge emits none
    plain = [t for t in predict_shards(params, os.path.join(base, "plain"), gtf)]
    if all(plain):
        m = merge(plain, os.path.join(base, "plain-merge"))
        check(m is not None and m.out.get("embeddings") is None, "without --embeddings: no merged embeddings")


def scatter_once(params, label, gtf, base):
    whole = predict(params, os.path.join(base, "whole"), gtf=gtf)
    shards = predict_shards(params, base, gtf)
    if not whole or not all(shards):
        return None
    rows = [len(lines(t.path("tsv"))) - 1 for t in shards]
    print(f"note: {label}: transcripts per shard {rows}")
    merged = merge(shards, os.path.join(base, "merge"))
    if not merged:
        return None
    # merge writes its manifest only after checking the shards' (their configuration, shards, every file listed)
    shard_config = {json.load(open(t.path("manifest")))["config"] for t in shards}
    run = json.load(open(merged.path("manifest"))) if merged.path("manifest") else {}
    check(len(shard_config) == 1 and run.get("config") in shard_config and run.get("command") == "merge"
          and {f["name"] for f in run.get("files", [])} >= {os.path.basename(merged.path(e)) for e in ("tsv", "bed")},
          f"{label}: merge checked the staged shard manifests and wrote its own: {merged.path('manifest')}")
    for emit in ("tsv", "bed"):
        a, b = open(whole.path(emit), "rb").read(), open(merged.path(emit), "rb").read()
        n_lines = a.count(b"\n")
        check(a == b and n_lines > 1, f"{label}: scatter/gather {emit} byte-identical to one run ({n_lines} lines)")
    tracks = names(whole.path("bigwig"))
    check(names(merged.path("bigwig")) == tracks and tracks, f"{label}: same {len(tracks)} bigWig tracks")
    contigs = [(x.split("\t")[0], int(x.split("\t")[1])) for x in lines(params["fasta"] + ".fai")]
    for t in tracks:
        with open(os.path.join(whole.dir, t), "rb") as fa, open(os.path.join(merged.dir, t), "rb") as fb:
            wa, wb = BigWigFile(fa), BigWigFile(fb)
            ok, covered = True, 0
            for chrom, size in contigs:
                va, vb = wa.get_as_array(chrom.encode(), 0, size), wb.get_as_array(chrom.encode(), 0, size)
                ok &= (va is None and vb is None) or (va is not None and vb is not None and
                                                     np.array_equal(va, vb, equal_nan=True))
                covered += 0 if va is None else int((~np.isnan(va)).sum())
            check(ok and covered > 0, f"{label}: scatter/gather {t}: values equal one run's over {covered} bases "
                                      "(bx-python)")
    return merged


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
kind, _, module = mode.partition(":")
if kind == "stub":
    run_stub(module, test_params())
elif kind == "script":
    run_script(module, test_params())
elif kind == "scatter":
    need_commands("predict", "merge")
    params = test_params()
    need_files(params, "fasta", "gtf", "gtf_split", "model", "chrom_alias")
    run_scatter(params)
else:
    sys.exit(f"unknown mode {mode}")
finish()
