"""The Nextflow renderer (nf_render.py) on its own: Groovy semantics it claims (elvis, ternary, GString escapes),
rejection of what it does not support, and the exact predict command lines for CPU/GPU and sharded tasks, which
the script-mode harness cannot run before `isoformer predict` exists."""
import os

from checks import check, finish
from nf_render import evaluate, interpolate, outputs, render

HERE = os.path.dirname(os.path.abspath(__file__))



def raises(fn):
    try:
        fn()
    except ValueError:
        return True
    return False


ctx = {"task": {"ext": {"args": "", "prefix": None}, "accelerator": None, "cpus": 4}, "meta": {"id": "s"}, "n": 0}
check(evaluate("task.ext.prefix ?: \"${meta.id}\"", ctx) == "s", "elvis falls back on null")
check(evaluate("task.ext.args ?: 'x'", ctx) == "x", "elvis falls back on '' (Groovy truth)")
check(evaluate("n ? 'a' : 'b'", ctx) == "b", "ternary on 0")
check(evaluate("meta.id == 's' ? 'a' : 'b'", ctx) == "a" and evaluate("meta.id != 's' ? 'a' : 'b'", ctx) == "b",
      "== and != in a ternary's condition")
check(evaluate("meta.strandedness == 'forward'", ctx) is False, "== on a missing key (null) is false")
check(evaluate("task.accelerator ? \"cuda\" : \"cpu\"", dict(ctx, task={"accelerator": {"request": 1}})) == "cuda",
      "ternary on a map")
check(evaluate("meta.id ? \"--x ${meta.id}\" : ''", ctx) == "--x s", "ternary whose branch interpolates")
check(interpolate(r"a \\ b \$HOME ${task.cpus} \\t", ctx) == "a \\ b $HOME 4 \\t", "GString escapes")
check(raises(lambda: evaluate("meta.collect { it }", ctx)), "closures are rejected")
check(raises(lambda: interpolate("echo $HOME", ctx)), "unescaped $name is rejected")

src = open(os.path.join(HERE, "..", "..", "nextflow", "modules", "isoformer", "predict", "main.nf")).read()
inputs = {"fasta": "g.fa.gz", "gtf": "a.gtf", "model": "m", "fasta_index": ["g.fa.gz.fai", "g.fa.gz.gzi"],
          "meta": {"id": "s"}}
# An absent optional path input is [] (nf-core callers pass it so): no --chrom-alias then.
for acc, shard, alias, want in (
        (None, "", [], "isoformer predict --model m --fasta g.fa.gz --gtf a.gtf --device cpu --threads 4 --out s"),
        ({"request": 1}, "2/4", "alias.txt", "isoformer predict --model m --fasta g.fa.gz --gtf a.gtf "
                                             "--chrom-alias alias.txt --shard 2/4 --device cuda --threads 4 --out s")):
    command, scope = render(src, "script", dict(inputs, shard=shard, chrom_alias=alias,
                                                task=dict(ctx["task"], accelerator=acc)))
    got = " ".join(command.replace("\\\n", " ").split())
    check(got == want, f"predict {'GPU' if acc else 'CPU'} shard '{shard}': {got}")
    outs = outputs(src, scope)
    check([(e, v) for e, k, v, o in outs if k == "path"] ==
          [("tsv", "s.predictions.tsv"), ("bed", "s.predictions.bed"), ("bigwig", "s.*.bw"),
           ("embeddings", "s.embeddings.tsv"), ("manifest", "s.run.json")], f"outputs {outs}")
finish()
