"""Makes tests/pipelines/data/split_genes.gtf, which the pipeline tests (and the modules' nf-tests, through
nextflow/conf/test.config) derive from test-data/: its annotation has one gene (BCAS1, 7 isoforms), so a 2-way
shard split leaves shard 2/2 empty (genes are never split) and fit's gene-grouped cross-validation has one group;
here every transcript is its own gene (gene_id = transcript_id).

usage: derived_inputs.py OUTDIR"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

with open(os.path.join(ROOT, "test-data", "annotation.gtf")) as fin, \
        open(os.path.join(sys.argv[1], "split_genes.gtf"), "w") as fout:
    for line in fin:
        tid = re.search(r'transcript_id "([^"]+)"', line)
        fout.write(re.sub(r'gene_id "[^"]+"', f'gene_id "{tid.group(1)}"', line) if tid else line)
