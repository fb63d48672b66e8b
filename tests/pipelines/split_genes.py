"""test-data's annotation has one gene (BCAS1, 7 isoforms), so a 2-way shard split leaves shard 2/2 empty (genes
are never split). The pipeline tests also scatter a copy in which every transcript is its own gene, so that both
shards get transcripts."""
import re


def split_genes_gtf(src, dst):
    """Writes src (GTF) to dst with gene_id replaced by the line's transcript_id; returns dst."""
    with open(src) as fin, open(dst, "w") as fout:
        for line in fin:
            tid = re.search(r'transcript_id "([^"]+)"', line)
            fout.write(re.sub(r'gene_id "[^"]+"', f'gene_id "{tid.group(1)}"', line) if tid else line)
    return dst
