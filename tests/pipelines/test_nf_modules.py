"""Runs our Nextflow modules' script:/stub: blocks, rendered as Nextflow would (nf_render.py), with bash against the
real isoformer binary, and checks every declared output and the versions topic.

usage: test_nf_modules.py ISOFORMER MODE WORKDIR
  MODE stub:<module>  the stub block, CPU and GPU task variants, with placeholder inputs
  MODE script:<module> the script block on test-data (CPU; GPU too when nvidia-smi sees one)
  MODE scatter        predict rendered for shards 1/2 and 2/2, then merge, against one unsharded predict
Exit 77 (a skipped ctest) when a subcommand the module needs is not built yet or test-data lacks an input."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from bx.bbi.bigwig_file import BigWigFile

from nf_render import outputs, render
from derived_inputs import simulated_bam, split_genes_gtf

HERE = os.path.dirname(os.path.abspath(__file__))
NEXTFLOW = os.path.join(HERE, "..", "..", "nextflow")
SKIP = 77
exe, mode, work = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
env = dict(os.environ, PATH=os.path.dirname(exe) + os.pathsep + os.environ["PATH"])
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def skip(why):
    print(f"SKIP {why}")
    sys.exit(SKIP)


def test_params():
    """params of conf/test.config (the pipeline's test profile), with ${projectDir} resolved."""
    text = open(os.path.join(NEXTFLOW, "conf", "test.config")).read()
    return {k: v.replace("${projectDir}", NEXTFLOW) for k, v in re.findall(r'^\s*(\w+)\s*=\s*"([^"]*)"', text, re.M)}


def need_commands(*cmds):
    missing = [c for c in cmds if subprocess.run([exe, c, "--help"], capture_output=True).returncode != 0]
    if missing:
        skip(f"'isoformer {' / '.join(missing)} --help' fails: subcommand not built yet")


def need_files(params, *names):
    missing = [params[n] for n in names if not os.path.exists(params[n])]
    if missing:
        skip(f"test-data lacks {', '.join(missing)}")


def module_source(name):
    return open(os.path.join(NEXTFLOW, "modules", "isoformer", name, "main.nf")).read()


def task(process, gpu, args=""):
    return {"process": f"ISOFORMER_{process.upper()}", "cpus": 2, "memory": "6 GB", "attempt": 1,
            "ext": {"args": args, "prefix": None}, "accelerator": {"request": 1} if gpu else None}


def stage(taskdir, files):
    """Links inputs into the task directory under their names, as Nextflow stages them."""
    for rel, src in files.items():
        dst = os.path.join(taskdir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.symlink(os.path.abspath(src), dst)


def run_task(name, label, ctx, files, taskdir):
    """Renders and runs one task; returns its directory when it succeeded with all declared outputs."""
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
    ok = True
    for emit, kind, value, optional in outputs(source, scope):
        if kind == "path":
            found = [p for p in os.listdir(taskdir) if re.fullmatch(glob_regex(value), p)]
            ok &= check(bool(found) or optional, f"{tag}: output {emit} '{value}' -> {sorted(found)[:3]}")
        else:
            v = subprocess.run(["bash", "-c", value], cwd=taskdir, env=env, capture_output=True, text=True)
            ok &= check(v.returncode == 0 and v.stdout.strip() == "0.1.0",
                        f"{tag}: topic versions eval '{value}' -> {v.stdout.strip()!r}")
    return taskdir if ok else None


def glob_regex(pattern):
    return "".join(".*" if c == "*" else re.escape(c) for c in pattern)


def placeholders(taskdir_inputs):
    """Empty input files with the right names, for stubs (which never read them)."""
    os.makedirs(taskdir_inputs, exist_ok=True)
    files = {}
    for name in ("genome.fa", "genes.gtf", "model", "sample.bam", "sample.bam.bai", "test.predictions.tsv", "observed.tsv",
                 "test.embeddings.tsv"):
        open(os.path.join(taskdir_inputs, name), "w").close()
        files[name] = os.path.join(taskdir_inputs, name)
    for s in (1, 2):
        for suffix in ("predictions.tsv", "predictions.bed"):
            p = os.path.join(taskdir_inputs, f"test.shard{s}of2.{suffix}")
            with open(p, "w") as f:
                f.write("header\n")
            files[f"shards/test.shard{s}of2.{suffix}"] = p
    return files


def predict_inputs(fasta, gtf, model, index=(), alias=None, shard=""):
    """predict's inputs by staged name; an absent optional path input is [], as nf-core callers pass it."""
    return ({"fasta": fasta, "gtf": gtf, "model": model, "fasta_index": list(index), "chrom_alias": alias or [],
             "shard": shard}, [fasta, gtf, model, *index, *([alias] if alias else [])])


# Each module's inputs, named as its input: block names them, from a {name: path} map of available files.
INPUTS = {
    "predict": lambda f, shard="": predict_inputs("genome.fa", "genes.gtf", "model", shard=shard),
    "quant": lambda f: ({"bam": "sample.bam", "bai": "sample.bam.bai", "gtf": "genes.gtf", "chrom_alias": []},
                        ["sample.bam", "sample.bam.bai", "genes.gtf"]),
    "eval": lambda f: ({"predictions": "test.predictions.tsv", "observed": "observed.tsv"},
                       ["test.predictions.tsv", "observed.tsv"]),
    "fit": lambda f: ({"embeddings": "test.embeddings.tsv", "observed": "observed.tsv"},
                      ["test.embeddings.tsv", "observed.tsv"]),
    "merge": lambda f: ({"shard_files": [k for k in f if k.startswith("shards/")]},
                        [k for k in f if k.startswith("shards/")]),
}


def context(name, gpu, inputs, args=""):
    return {"task": task(name, gpu, args), "meta": {"id": "test"}, "meta2": {"id": "ref"}, **inputs}


def run_stub(name):
    files = placeholders(os.path.join(work, "inputs"))
    inputs, staged = INPUTS[name](files)
    for gpu in (False, True):
        run_task(name, "stub", context(name, gpu, inputs), {k: files[k] for k in staged},
                 os.path.join(work, f"stub-{'gpu' if gpu else 'cpu'}"))


def have_gpu():
    return shutil.which("nvidia-smi") and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def predict(params, taskdir, shard="", gpu=False, args="", prefix=None, gtf=None):
    """The predict script on conf/test.config's files (or another GTF), staged under their own names as
    Nextflow stages them: the model directory, the bgzipped FASTA with its .fai and .gzi beside it, the
    chromAlias file that maps the annotation's 'chr20' to the FASTA's '20'."""
    src = [params["fasta"], gtf or params["gtf"], params["model"]]
    index = [params["fasta"] + ext for ext in (".fai", ".gzi") if os.path.exists(params["fasta"] + ext)]
    files = {os.path.basename(p): p for p in src + index + [params["chrom_alias"]]}
    inputs, _ = predict_inputs(*map(os.path.basename, src), index=[os.path.basename(p) for p in index],
                               alias=os.path.basename(params["chrom_alias"]), shard=shard)
    ctx = context("predict", gpu, inputs, args)
    ctx["task"]["ext"]["prefix"] = prefix
    command, _ = render(module_source("predict"), "script", ctx)
    flat = " ".join(command.replace("\\\n", " ").split())
    check(f"--device {'cuda' if gpu else 'cpu'}" in flat and (f"--shard {shard}" in flat) == bool(shard)
          and f"--chrom-alias {inputs['chrom_alias']}" in flat,
          f"predict command for {'GPU' if gpu else 'CPU'} shard '{shard}': {flat}")
    return run_task("predict", "script", ctx, files, taskdir)


def check_predicted_rows(params, tsv):
    """One row per transcript of the GTF, on the FASTA's contig names (the chromAlias was applied)."""
    want = set(re.findall(r'transcript_id "([^"]+)"', open(params["gtf"]).read()))
    contigs = {line.split("\t")[0] for line in open(params["fasta"] + ".fai")}
    rows = [line.rstrip("\n").split("\t") for line in open(tsv)][1:]
    check(sorted(r[0] for r in rows) == sorted(want) and {r[3] for r in rows} <= contigs,
          f"predict: {len(rows)} rows, one per GTF transcript ({len(want)}), on FASTA contigs {sorted(contigs)}")


def quant(params, taskdir):
    """The quant script on a BAM simulated from the annotation (derived_inputs.py; conf/test.config's has no
    read in its exons) with its .bai beside it, and conf/test.config's GTF and chromAlias file, staged under
    their own names."""
    bam, error = simulated_bam(exe, os.path.join(work, "simulated"))
    if not bam:
        skip(f"simulate_rnaseq.py failed (needs wgsim, hisat2, samtools): {error}")
    files = {os.path.basename(p): p for p in (bam, bam + ".bai", params["gtf"], params["chrom_alias"])}
    bam, bai, gtf, alias = files
    inputs = {"bam": bam, "bai": bai, "gtf": gtf, "chrom_alias": alias}
    d = run_task("quant", "script", context("quant", False, inputs), files, taskdir)
    if d:
        want = set(re.findall(r'transcript_id "([^"]+)"', open(params["gtf"]).read()))
        rows = [line.split("\t") for line in open(os.path.join(d, "test.quant.sf"))][1:]
        reads = sum(float(r[4]) for r in rows)
        check(sorted(r[0] for r in rows) == sorted(want) and reads > 0,
              f"quant: {len(rows)} rows, one per GTF transcript ({len(want)}), {reads:g} reads assigned through "
              "the chromAlias")
    return d


def run_merge_handmade():
    """The merge block on two hand-made shards: rows come back in (chrom, start, end, id) order."""
    need_commands("merge")
    rows = [("T3", "chr2", 50, 90), ("T1", "chr1", 10, 40), ("T4", "chr10", 5, 9), ("T2", "chr1", 10, 30)]
    files = {}
    for i, part in enumerate((rows[:2], rows[2:]), 1):
        prefix = os.path.join(work, "inputs", f"test.shard{i}of2")
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
        with open(prefix + ".predictions.tsv", "w") as f:
            f.write("transcript_id\tgene_id\tgene_name\tchrom\tstart\tend\tstrand\tBrain\n")
            f.writelines(f"{t}\tG{t}\tN{t}\t{c}\t{a}\t{b}\t+\t1.5\n" for t, c, a, b in part)
        with open(prefix + ".predictions.bed", "w") as f:
            f.writelines(f"{c}\t{a}\t{b}\t{t}\t0\t+\t{a}\t{a}\t0,0,255\t1\t{b - a},\t0,\t1.5\n" for t, c, a, b in part)
        for suffix in ("predictions.tsv", "predictions.bed"):
            files[f"shards/test.shard{i}of2.{suffix}"] = f"{prefix}.{suffix}"
    inputs, _ = INPUTS["merge"](files)
    d = run_task("merge", "script", context("merge", False, inputs), files, os.path.join(work, "merge"))
    if d:
        got = [line.split("\t")[0] for line in open(os.path.join(d, "test.predictions.tsv"))][1:]
        check(got == ["T2", "T1", "T4", "T3"], f"merged rows in (chrom, start, end, id) order: {got}")


def run_script(name, params):
    if name == "merge":
        return run_merge_handmade()
    needs = {"predict": ["predict"], "merge": ["predict", "merge"], "quant": ["quant"],
             "eval": ["predict", "quant", "eval"], "fit": ["predict", "quant", "fit"]}[name]
    need_commands(*needs)
    need_files(params, *(["fasta", "gtf", "model", "chrom_alias"] if "predict" in needs else []),
               *(["gtf", "chrom_alias"] if "quant" in needs else []))
    if name == "predict":
        d = predict(params, os.path.join(work, "cpu"))
        if d:
            check_predicted_rows(params, os.path.join(d, "test.predictions.tsv"))
        if have_gpu():
            predict(params, os.path.join(work, "gpu"), gpu=True)
        else:
            print("note: no GPU here, GPU variant rendered but not run")
            command, _ = render(module_source("predict"), "script",
                                context("predict", True, INPUTS["predict"]({})[0]))
            check("--device cuda" in command, "GPU variant passes --device cuda")
    elif name == "quant":
        quant(params, os.path.join(work, "quant"))
    elif name in ("eval", "fit"):
        args = "--embeddings" if name == "fit" else ""
        if name == "fit":  # cross-validation grouped by gene needs several genes: one per isoform here
            params = dict(params, gtf=split_genes_gtf(params["gtf"], os.path.join(work, "split.gtf")))
        p = predict(params, os.path.join(work, "predict"), args=args)
        q = quant(params, os.path.join(work, "quant"))
        if p and q:
            inputs, staged = INPUTS[name]({})
            src = {"test.predictions.tsv": os.path.join(p, "test.predictions.tsv"),
                   "test.embeddings.tsv": os.path.join(p, "test.embeddings.tsv"),
                   "observed.tsv": os.path.join(q, "test.quant.sf")}
            run_task(name, "script", context(name, False, inputs), {k: src[k] for k in staged},
                     os.path.join(work, name))


def run_scatter(params):
    """ISOFORMER_SCATTER by hand: predict shards 1/2 and 2/2, merge their files, compare with one run; on the
    test-data annotation (shard 2/2 empty) and on a copy with one gene per transcript (both shards used)."""
    split = split_genes_gtf(params["gtf"], os.path.join(work, "split_genes.gtf"))
    for label, gtf in (("annotation", params["gtf"]), ("split genes", split)):
        scatter_once(params, label, gtf, os.path.join(work, label.replace(" ", "_")))


def scatter_once(params, label, gtf, base):
    whole = predict(params, os.path.join(base, "whole"), gtf=gtf)
    shards = [predict(params, os.path.join(base, f"shard{i}"), shard=f"{i}/2", prefix=f"test.shard{i}of2", gtf=gtf)
              for i in (1, 2)]
    if not whole or not all(shards):
        return
    rows = [sum(1 for _ in open(os.path.join(d, f"test.shard{i}of2.predictions.tsv"))) - 1
            for i, d in enumerate(shards, 1)]
    print(f"note: {label}: transcripts per shard {rows}")
    files = {f"shards/{p}": os.path.join(d, p) for d in shards for p in os.listdir(d)
             if re.search(r"\.(predictions\.(tsv|bed)|bw)$", p)}
    inputs, _ = INPUTS["merge"](files)
    merged = run_task("merge", "script", context("merge", False, inputs), files, os.path.join(base, "merge"))
    if not merged:
        return
    for suffix in ("predictions.tsv", "predictions.bed"):
        a = open(os.path.join(whole, f"test.{suffix}"), "rb").read()
        b = open(os.path.join(merged, f"test.{suffix}"), "rb").read()
        n_lines = a.count(b"\n")
        check(a == b and n_lines > 1, f"{label}: scatter/gather {suffix} byte-identical to one run ({n_lines} lines)")
    tracks = sorted(p for p in os.listdir(whole) if p.endswith(".bw"))
    check(sorted(p for p in os.listdir(merged) if p.endswith(".bw")) == tracks and tracks,
          f"{label}: same {len(tracks)} bigWig tracks")
    contigs = [(line.split("\t")[0], int(line.split("\t")[1])) for line in open(params["fasta"] + ".fai")]
    for t in tracks:
        with open(os.path.join(whole, t), "rb") as fa, open(os.path.join(merged, t), "rb") as fb:
            wa, wb = BigWigFile(fa), BigWigFile(fb)
            ok, covered = True, 0
            for chrom, size in contigs:
                va, vb = wa.get_as_array(chrom.encode(), 0, size), wb.get_as_array(chrom.encode(), 0, size)
                ok &= (va is None and vb is None) or (va is not None and vb is not None and
                                                     np.array_equal(va, vb, equal_nan=True))
                covered += 0 if va is None else int((~np.isnan(va)).sum())
            check(ok and covered > 0, f"{label}: scatter/gather {t}: values equal one run's over {covered} bases "
                                      "(bx-python)")


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
kind, _, module = mode.partition(":")
if kind == "stub":
    run_stub(module)
elif kind == "script":
    run_script(module, test_params())
elif kind == "scatter":
    need_commands("predict", "merge")
    params = test_params()
    need_files(params, "fasta", "gtf", "model", "chrom_alias")
    run_scatter(params)
else:
    sys.exit(f"unknown mode {mode}")
sys.exit(1 if failures else 0)
