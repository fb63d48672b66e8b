"""Static checks of the Nextflow modules against nf-core's conventions (docs/pipelines.md lists them): meta.yml
and environment.yml validate against JSON schemas modelled on nf-core's, meta.yml's output channels are main.nf's
(emit names, versions_isoformer included, and path keys in main.nf's own `${prefix}...` form), main.nf has one
process with only tag/label/conda/container directives, labels sized to the job, a one-line container,
ext.args/ext.prefix, a stub, a versions topic, and (predict, variants) the GPU label and task.accelerator; each module's
nf-test has nf-core's tags and a snapshot file with the versions in every test.
usage: check_modules.py NEXTFLOW_DIR"""
import json
import os
import re
import sys

import jsonschema
import yaml

from checks import check, finish
from nf_render import outputs, section, strip_comment

HERE = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(sys.argv[1], "modules", "isoformer")
schemas = {n: json.load(open(os.path.join(HERE, f"{n}-schema.json"))) for n in ("meta", "environment")}



def validates(doc, schema, what):
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
    check(not errors, what + "".join(f"\n     {'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]))


modules = sorted(os.listdir(root))
check(modules == ["eval", "fit", "merge", "predict", "quant", "variants", "variantsgather"], f"modules {modules}")
for name in modules:
    d = os.path.join(root, name)
    src = open(os.path.join(d, "main.nf")).read()
    meta = yaml.safe_load(open(os.path.join(d, "meta.yml")))
    validates(meta, schemas["meta"], f"{name}/meta.yml validates")
    validates(yaml.safe_load(open(os.path.join(d, "environment.yml"))), schemas["environment"],
              f"{name}/environment.yml validates")
    check(meta["name"] == f"isoformer_{name}", f"{name}: meta.yml name {meta['name']}")

    process = re.findall(r"^process\s+(\w+)\s*\{", src, re.M)
    check(process == [f"ISOFORMER_{name.upper()}"], f"{name}: exactly one process, named {process}")
    head = src[src.index("{") + 1:src.index("input:")]
    directives = [strip_comment(line).split()[0] for line in head.splitlines() if strip_comment(line)]
    check(set(directives) <= {"tag", "label", "conda", "container"}, f"{name}: directives {directives}")
    check('tag "${meta.id}"' in head, f"{name}: tag is meta.id")
    labels = re.findall(r"label\s+'(\w+)'", head)
    want = {"predict": ["process_medium", "process_gpu"], "quant": ["process_medium"], "merge": ["process_single"],
            "eval": ["process_single"], "fit": ["process_low"], "variants": ["process_medium", "process_gpu"],
            "variantsgather": ["process_single"]}[name]
    check(labels == want, f"{name}: labels {labels}, want {want}")
    check('conda "${moduleDir}/environment.yml"' in head, f"{name}: conda environment.yml")
    check(re.search(r'^\s*container\s+"[^"\n]+"\s*$', head, re.M) is not None, f"{name}: one-line container")
    for block in ("script", "stub"):
        body = section(src, block)
        check("task.ext.args" in body and "task.ext.prefix" in body, f"{name}: {block} uses ext.args, ext.prefix")
    check("task.ext.when == null || task.ext.when" in section(src, "when"), f"{name}: when: ext.when")
    out = section(src, "output")
    check(re.search(r"eval\(.*topic:\s*versions", out) is not None, f"{name}: versions on the topic channel")
    if "process_gpu" in want:
        check('task.accelerator ? "cuda" : "cpu"' in section(src, "script"), f"{name}: device from task.accelerator")
    emits = re.findall(r"emit:\s*(\w+)", out)
    check(emits == list(meta["output"]) and "versions_isoformer" in emits,
          f"{name}: emits {emits} == meta.yml outputs {list(meta['output'])}, versions_isoformer among them")
    # Path and eval keys as main.nf writes them (nf-core lint's correct_meta_outputs), before interpolation.
    declared = {e: v for e, _, v, _ in outputs(src, {"prefix": "${prefix}", "task": {"process": "${task.process}"}})}
    documented = {e: [k for el in ch[-1:] for k in el] for e, chs in meta["output"].items() for ch in chs}
    check(all(documented.get(e) == [v] for e, v in declared.items() if not e.startswith("versions")),
          f"{name}: meta.yml output keys {documented} are main.nf's {declared}")
    inputs = [x for x in (strip_comment(line) for line in section(src, "input").splitlines()) if x]
    check(len(inputs) == len(meta.get("input", [])), f"{name}: {len(inputs)} input channels documented")
    test = open(os.path.join(d, "tests", "main.nf.test")).read()
    check(f'process "ISOFORMER_{name.upper()}"' in test and 'options "-stub"' in test,
          f"{name}: nf-test with a stub test")
    tags = re.findall(r'^\s*tag\s+"([^"]+)"', test, re.M)
    check({"modules", "modules_nfcore", "isoformer", f"isoformer/{name}"} <= set(tags), f"{name}: nf-test tags {tags}")
    snap_path = os.path.join(d, "tests", "main.nf.test.snap")
    tests = re.findall(r'^\s*test\("([^"]+)"\)', test, re.M)
    snap = json.load(open(snap_path)) if os.path.exists(snap_path) else {}
    check(sorted(snap) == sorted(tests) and all("versions_isoformer" in json.dumps(v) for v in snap.values()),
          f"{name}: main.nf.test.snap has the tests {tests}, each with versions_isoformer: {sorted(snap)}")
repo = os.path.join(sys.argv[1], "..")
validates(yaml.safe_load(open(os.path.join(repo, "environment.yml"))), schemas["environment"],
          "environment.yml (repository root) validates")
finish()
