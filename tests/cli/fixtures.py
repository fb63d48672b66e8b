"""Inputs derived from test-data/ that several CLI tests share."""


def two_gene_gtf(data, path):
    """Writes test-data's annotation (BCAS1, gene 8537) plus a copy of it 700 kb downstream as gene 9999 with
    transcript ids 'copy_<id>', so that runs and shards hold two genes. Returns path."""
    with open(path, "w") as out:
        lines = [line for line in open(f"{data}/annotation.gtf") if not line.startswith("#")]
        out.writelines(lines)
        for line in lines:
            f = line.split("\t")
            f[3], f[4] = str(int(f[3]) + 700000), str(int(f[4]) + 700000)
            f[8] = f[8].replace('gene_id "8537"', 'gene_id "9999"').replace('transcript_id "', 'transcript_id "copy_')
            out.write("\t".join(f))
    return path
