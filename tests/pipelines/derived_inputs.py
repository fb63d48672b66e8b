"""Makes tests/pipelines/data/, the inputs the pipeline tests (and the modules' nf-tests, through
nextflow/conf/test.config) derive from test-data/ where the committed files cannot exercise a step:

- split_genes.gtf: test-data's annotation has one gene (BCAS1, 7 isoforms), so a 2-way shard split leaves
  shard 2/2 empty (genes are never split) and fit's gene-grouped cross-validation has one group; here every
  transcript is its own gene.
- sim.bam, sim.bam.bai: test-data/rnaseq.bam has no read in the BCAS1 exons, and quant rejects it: 2,000 read
  pairs drawn from the annotation and aligned (tests/cli/simulate_rnaseq.py, seed 11: wgsim, HISAT2, samtools).

usage: derived_inputs.py ISOFORMER OUTDIR"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def split_genes_gtf(src, dst):
    """Writes src (GTF) to dst with gene_id replaced by the line's transcript_id."""
    with open(src) as fin, open(dst, "w") as fout:
        for line in fin:
            tid = re.search(r'transcript_id "([^"]+)"', line)
            fout.write(re.sub(r'gene_id "[^"]+"', f'gene_id "{tid.group(1)}"', line) if tid else line)


if __name__ == "__main__":
    exe, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    split_genes_gtf(os.path.join(ROOT, "test-data", "annotation.gtf"), os.path.join(out, "split_genes.gtf"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "cli", "simulate_rnaseq.py"), exe,
                        os.path.join(ROOT, "test-data"), tmp, "2000", "11"], check=True)
        for name in ("sim.bam", "sim.bam.bai"):
            shutil.copy(os.path.join(tmp, name), os.path.join(out, name))
