"""Inputs the pipeline tests derive from test-data/ where the committed files cannot exercise a step.

- test-data's annotation has one gene (BCAS1, 7 isoforms), so a 2-way shard split leaves shard 2/2 empty
  (genes are never split): split_genes_gtf() makes every transcript its own gene, so both shards get some.
- test-data/rnaseq.bam has no read in the BCAS1 exons, and quant rejects it: simulated_bam() draws reads from
  the annotation and aligns them (tests/cli/simulate_rnaseq.py: wgsim, HISAT2, samtools)."""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def split_genes_gtf(src, dst):
    """Writes src (GTF) to dst with gene_id replaced by the line's transcript_id; returns dst."""
    with open(src) as fin, open(dst, "w") as fout:
        for line in fin:
            tid = re.search(r'transcript_id "([^"]+)"', line)
            fout.write(re.sub(r'gene_id "[^"]+"', f'gene_id "{tid.group(1)}"', line) if tid else line)
    return dst


def simulated_bam(exe, out):
    """2,000 read pairs simulated from test-data's annotation, aligned, sorted and indexed: OUT/sim.bam(.bai).
    Returns (path, "") or (None, the simulator's error) when it fails (a tool missing)."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "cli", "simulate_rnaseq.py"), exe,
                        os.path.join(ROOT, "test-data"), out, "2000", "11"], capture_output=True, text=True)
    return (os.path.join(out, "sim.bam"), "") if r.returncode == 0 else (None, r.stderr.strip()[-300:])
