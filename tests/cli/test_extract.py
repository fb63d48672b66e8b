"""isoformer extract against independent references on the real test data (GRCh37 chr20 slice, UCSC knownGene
BCAS1 isoforms): spliced RNA vs `gffread -w`, protein vs `gffread -y`, DNA windows vs `samtools faidx` (with -i
for reverse-complemented windows), for every transcript, from the GTF and from the GFF3, plain and gzipped,
CRLF, with 1 and 2 threads. Usage: test_extract.py ISOFORMER_BINARY TEST_DATA_DIR"""
import gzip
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

iso, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
tmp = tempfile.mkdtemp(prefix="iso_extract_")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=tmp, **kw)


def read_fasta(path):
    seqs, name = {}, None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(">"):
                name = line[1:].split()[0]
                seqs[name] = []
            elif name is not None:
                seqs[name].append(line)
    return {k: "".join(v) for k, v in seqs.items()}


def read_descriptions(path):
    """record name -> the rest of its header line"""
    with open(path) as f:
        return {l[1:].rstrip("\n").split(" ", 1)[0]: l.rstrip("\n").split(" ", 1)[1] for l in f if l.startswith(">")}


def read_tsv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        return {r[0]: dict(zip(header, r)) for r in (l.rstrip("\n").split("\t") for l in f)}


def gtf_models(path):
    """transcript_id -> (contig, strand, exons as 1-based inclusive pairs), parsed here independently."""
    models = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            if c[2] != "exon":
                continue
            tid = c[8].split('transcript_id "')[1].split('"')[0]
            m = models.setdefault(tid, (c[0], c[6], []))
            m[2].append((int(c[3]), int(c[4])))
    return models


def samtools(fa, contig, start0, end0, revcomp=False):
    """Bases [start0, end0) clipped to the contig, via samtools faidx (1-based inclusive regions), case kept."""
    args = ["samtools", "faidx"] + (["-i"] if revcomp else []) + [fa, "%s:%d-%d" % (contig, start0 + 1, end0)]
    out = run(*args).stdout.split("\n", 1)[1]
    return out.replace("\n", "")


# References: gffread on a plain FASTA whose contig names match the annotation (gffread has no alias option).
genome = os.path.join(tmp, "genome.fa")
with gzip.open(os.path.join(data, "genome.fa.gz"), "rt") as src, open(genome, "w") as dst:
    shutil.copyfileobj(src, dst)
gtf20 = os.path.join(tmp, "annotation.chr20as20.gtf")
with open(os.path.join(data, "annotation.gtf")) as src, open(gtf20, "w") as dst:
    dst.write(src.read().replace("chr20\t", "20\t"))
alias = os.path.join(data, "chromAlias.txt")
models = gtf_models(gtf20)

# isoformer first, on the plain FASTA without an index: it must build genome.fa.fai itself.
run(iso, "extract", "-f", genome, "-g", os.path.join(data, "annotation.gtf"), "-a", alias, "-o", "gtf", "-v")
check(os.path.exists(genome + ".fai"), "no .fai built for a plain FASTA")
run("gffread", "-g", genome, "-w", "ref.rna.fa", "-y", "ref.protein.fa", gtf20)
ref_rna, ref_prot = read_fasta(os.path.join(tmp, "ref.rna.fa")), read_fasta(os.path.join(tmp, "ref.protein.fa"))

# A soft-masked genome with IUPAC ambiguity codes (both cases) over BCAS1: the sequences keep both, as gffread
# and samtools faidx (which complement IUPAC codes) write them; codons with an ambiguity code translate to X.
masked = os.path.join(tmp, "masked.fa")
lines = open(genome).read().split("\n")
for i in range(9000, 11500):
    bases = list(lines[i].lower() if i % 3 == 0 else lines[i])
    if i % 7 == 0:
        bases[(i * 31) % len(bases)] = "RYSWKMBDHVNrysw"[i % 15]
    lines[i] = "".join(bases)
open(masked, "w").write("\n".join(lines))
run("gffread", "-g", masked, "-w", "masked_ref.rna.fa", "-y", "masked_ref.protein.fa", gtf20)
run(iso, "extract", "-f", masked, "-g", os.path.join(data, "annotation.gtf"), "-a", alias, "-o", "masked",
    "--revcomp-minus", "--window", "1001")
masked_rna = read_fasta(os.path.join(tmp, "masked.rna.fa"))
masked_prot = read_fasta(os.path.join(tmp, "masked.protein.fa"))
for tid, seq in read_fasta(os.path.join(tmp, "masked_ref.rna.fa")).items():
    check(any(c.islower() for c in seq) and any(c in "RYSWKMBDHVryswkmbdhv" for c in seq),
          "masked: the RNA of %s has no lowercase or IUPAC base to compare" % tid)
    check(masked_rna.get(tid) == seq, "masked: RNA of %s differs from gffread -w" % tid)
for tid, seq in read_fasta(os.path.join(tmp, "masked_ref.protein.fa")).items():
    seq = (seq[:-1] if seq.endswith(".") else seq).replace(".", "*")
    check(masked_prot.get(tid) == seq and "X" in seq, "masked: protein of %s differs from gffread -y" % tid)

variants = ["gtf"]
gz = os.path.join(tmp, "annotation.gtf.gz")
with open(os.path.join(data, "annotation.gtf"), "rb") as src, gzip.open(gz, "wb") as dst:
    dst.write(src.read())
crlf = os.path.join(tmp, "annotation.crlf.gtf")
with open(os.path.join(data, "annotation.gtf")) as src, open(crlf, "w", newline="") as dst:
    dst.write(src.read().replace("\n", "\r\n"))
for name, ann, extra in [("gff3", os.path.join(data, "annotation.gff3"), []), ("gz", gz, []),
                         ("crlf", crlf, []), ("threads", os.path.join(data, "annotation.gtf"), ["--threads", "2"])]:
    run(iso, "extract", "-f", os.path.join(data, "genome.fa.gz"), "-g", ann, "-a", alias, "-o", name, *extra)
    variants.append(name)

n_rna = n_prot = 0
for name in variants:
    rna = read_fasta(os.path.join(tmp, name + ".rna.fa"))
    prot = read_fasta(os.path.join(tmp, name + ".protein.fa"))
    tsv = read_tsv(os.path.join(tmp, name + ".tsv"))
    check(set(rna) == set(ref_rna) == set(models), "%s: transcript sets differ" % name)
    for tid, seq in ref_rna.items():
        check(rna.get(tid) == seq, "%s: RNA of %s differs from gffread -w" % (name, tid))
        n_rna += 1
    # gffread 0.12 -y drops the terminal stop as isoformer does, but writes internal stops as '.' (isoformer: '*');
    # older gffread versions also ended proteins with '.'.
    check(set(prot) == set(ref_prot), "%s: protein sets differ" % name)
    for tid, seq in ref_prot.items():
        seq = (seq[:-1] if seq.endswith(".") else seq).replace(".", "*")
        check(prot.get(tid) == seq, "%s: protein of %s differs from gffread -y" % (name, tid))
        check(int(tsv[tid]["protein_len"]) == len(seq), "%s: protein_len of %s" % (name, tid))
        check(tsv[tid]["flags"] == "coding", "%s: flags of %s are %s" % (name, tid, tsv[tid]["flags"]))
        n_prot += 1
    for tid, (contig, strand, exons) in models.items():
        check(int(tsv[tid]["rna_len"]) == sum(e - s + 1 for s, e in exons), "%s: rna_len of %s" % (name, tid))
        check(int(tsv[tid]["n_exons"]) == len(exons), "%s: n_exons of %s" % (name, tid))

# Ensembl and RefSeq GFF3 flavours, made here from the test GFF3: genes typed pseudogene/ncRNA_gene/gene, transcripts
# of many types named by a transcript_id attribute, a copy of one transcript under a second ID with the same
# transcript_id (RefSeq's X/Y pseudoautosomal copies: both keep their IDs, as gffread names them), and the genome
# after ##FASTA. RNA and protein against gffread, named by ID there.
gene_types = ["pseudogene", "ncRNA_gene", "gene"]
tx_types = ["pseudogenic_transcript", "scaRNA", "V_gene_segment", "mRNA", "processed_transcript", "lnc_RNA", "Y_RNA"]
flavoured = os.path.join(tmp, "flavoured.gff3")
lines, genes, shared = ["##gff-version 3"], {}, None
with open(os.path.join(data, "annotation.gff3")) as src:
    for line in src:
        if line.startswith("#"):
            continue
        c = line.rstrip("\n").split("\t")
        c[0] = "20"
        if c[2] == "transcript":
            tid = c[8].split("ID=")[1].split(";")[0]
            k = len(genes)
            genes[tid] = "ENSG%d" % k
            lines.append("\t".join(c[:2] + [gene_types[k % 3]] + c[3:8] + ["ID=gene:%d;gene_id=ENSG%d;Name=G%d" % (k, k, k)]))
            c[2], c[8] = tx_types[k % len(tx_types)], "ID=transcript:%s;Parent=gene:%d;transcript_id=%s" % (tid, k, tid)
            shared = shared or tid
        else:
            c[8] = c[8].replace("Parent=", "Parent=transcript:")
        lines.append("\t".join(c))
own = re.compile(r"(ID|Parent)=transcript:%s(?=;|$)" % re.escape(shared))
copy = [own.sub(r"\1=transcript:%s-2" % shared, l) for l in lines if own.search(l)]
open(flavoured, "w").write("\n".join(lines + copy + ["##FASTA", ">20", "ACGT"]) + "\n")
run("gffread", "-g", genome, "-w", "flav_ref.rna.fa", "-y", "flav_ref.protein.fa", flavoured)
run(iso, "extract", "-f", genome, "-g", flavoured, "-o", "flav", "--window", "10")
flav_rna, flav_prot = read_fasta(os.path.join(tmp, "flav.rna.fa")), read_fasta(os.path.join(tmp, "flav.protein.fa"))
flav_tsv = read_tsv(os.path.join(tmp, "flav.tsv"))


def flav_name(gff_id):
    """the name isoformer gives a transcript of ID gff_id: its transcript_id, unless another shares it"""
    tid = gff_id.split(":", 1)[1]
    return gff_id if tid.startswith(shared) else tid


ref = read_fasta(os.path.join(tmp, "flav_ref.rna.fa"))
check(len(ref) == len(models) + 1 and set(map(flav_name, ref)) == set(flav_rna),
      "flavoured GFF3: transcripts %s, gffread: %s" % (sorted(flav_rna), sorted(ref)))
for gff_id, seq in ref.items():
    check(flav_rna.get(flav_name(gff_id)) == seq, "flavoured GFF3: RNA of %s differs from gffread -w" % gff_id)
for gff_id, seq in read_fasta(os.path.join(tmp, "flav_ref.protein.fa")).items():
    seq = (seq[:-1] if seq.endswith(".") else seq).replace(".", "*")
    check(flav_prot.get(flav_name(gff_id)) == seq, "flavoured GFF3: protein of %s differs from gffread -y" % gff_id)
for tid, gene in genes.items():
    row = flav_tsv.get(tid) or flav_tsv.get("transcript:" + tid, {})
    check(row.get("gene_id") == gene and row.get("gene_name") == "G" + gene[4:],
          "flavoured GFF3: gene of %s is %s/%s, expected %s" % (tid, row.get("gene_id"), row.get("gene_name"), gene))

# Prokaryotes, on the real Ensembl Bacteria annotation of Devosia geojensis (no genome in test-data: a random one of
# its contigs' lengths), as Ensembl writes it (gene -> transcript -> exon + CDS) and rewritten as NCBI writes
# prokaryotes: gene -> CDS with no mRNA or exon lines (gffread reads the CDS as the exons), tRNA/rRNA genes ->
# tRNA/rRNA -> exon, the biotype only on the gene line (gene_biotype), and one rRNA naming two genes as Parent
# (gffread files it under the first). RNA and protein against gffread -w/-y, gene ids against gffread's geneID (the
# gene's own ID where the gene is the transcript), biotypes against the gene lines.
random.seed(20)
ensembl = os.path.join(tmp, "ensembl.gff3")  # gffread reads no gzip
with gzip.open(os.path.join(data, "Devosia_geojensis.ASM96941v1.32.gff3.gz"), "rt") as src, open(ensembl, "w") as dst:
    shutil.copyfileobj(src, dst)
devosia = [l.rstrip("\n").split("\t") for l in open(ensembl)]
prok_genome = os.path.join(tmp, "devosia.fa")
with open(prok_genome, "w") as f:
    for c in (l[0].split() for l in devosia if l[0].startswith("##sequence-region")):
        seq = "".join(random.choice("ACGT") for _ in range(int(c[3])))
        f.write(">%s\n%s\n" % (c[1], "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60))))
attrs = lambda c: dict(kv.split("=", 1) for kv in c[8].split(";"))
features = [c for c in devosia if len(c) == 9]
coding = {attrs(c)["Parent"] for c in features if c[2] == "CDS"}
is_tx = lambda c: attrs(c).get("ID", "").startswith("transcript:")  # types transcript and rRNA
gene_of = {attrs(c)["ID"]: attrs(c)["Parent"] for c in features if is_tx(c)}
biotype = {attrs(c)["ID"]: attrs(c)["biotype"] for c in features if c[2].endswith("gene")}
gid = lambda ens: "gene-" + ens.split(":", 1)[1]  # gene:X -> gene-X
ncbi, extra_parent = ["##gff-version 3"], None
for c in features:
    a = attrs(c)
    if c[2].endswith("gene"):
        ncbi.append("\t".join(c[:2] + ["gene"] + c[3:8] + ["ID=%s;Dbxref=GeneID:1;Name=%s;gbkey=Gene;gene_biotype=%s;"
                                                         "locus_tag=%s" % (gid(a["ID"]), a["gene_id"], a["biotype"],
                                                                           a["gene_id"])]))
    elif c[2] == "CDS":
        ncbi.append("\t".join(c[:8] + ["ID=cds-%s;Parent=%s;Dbxref=NCBI_GP:%s;Name=%s;gbkey=CDS;protein_id=%s;"
                                       "transl_table=11" % ((a["protein_id"], gid(gene_of[a["Parent"]])) +
                                                            (a["protein_id"],) * 3)]))
    elif is_tx(c) and a["ID"] not in coding:
        parent = gid(a["Parent"])
        if a["biotype"] == "rRNA" and not extra_parent:
            extra_parent = parent
            parent += "," + gid(next(g for g in biotype if g != a["Parent"]))
        ncbi.append("\t".join(c[:2] + [a["biotype"]] + c[3:8] + ["ID=rna-%s;Parent=%s;gbkey=%s;product=x" %
                                                                 (a["transcript_id"], parent, a["biotype"])]))
    elif c[2] == "exon" and a["Parent"] not in coding:
        tid = a["Parent"].split(":", 1)[1]
        ncbi.append("\t".join(c[:8] + ["ID=exon-%s-1;Parent=rna-%s;gbkey=%s" % (tid, tid, biotype[gene_of[a["Parent"]]])]))
open(os.path.join(tmp, "ncbi.gff3"), "w").write("\n".join(ncbi) + "\n")
check(extra_parent is not None, "prokaryotes: no rRNA in the Devosia annotation")
# NCBI's translation tables 2 and 11 (https://www.ncbi.nlm.nih.gov/Taxonomy/Utils/wprintgc.cgi), codons in TCAG order
tcag = [a + b + c for a in "TCAG" for b in "TCAG" for c in "TCAG"]
starts11 = {c for c, m in zip(tcag, "---M------**--*----M------------MMMM---------------M------------") if m == "M"}
starts2 = {c for c, m in zip(tcag, "----------**--------------------MMMM----------**---M------------") if m == "M"}
for name, ann in [("ensembl", ensembl), ("ncbi", os.path.join(tmp, "ncbi.gff3"))]:
    run("gffread", "-g", prok_genome, "-w", name + "_ref.rna.fa", "-y", name + "_ref.protein.fa", "-x",
        name + "_ref.cds.fa", ann)
    table = dict(l.split("\t") for l in run("gffread", "--table", "@id,@geneid", ann).stdout.split("\n") if l)
    run(iso, "extract", "-f", prok_genome, "-g", ann, "-o", name, "--window", "10")
    rna, prot = read_fasta(os.path.join(tmp, name + ".rna.fa")), read_fasta(os.path.join(tmp, name + ".protein.fa"))
    tsv = read_tsv(os.path.join(tmp, name + ".tsv"))
    ours = (lambda i: i.split(":", 1)[1]) if name == "ensembl" else (lambda i: i)  # Ensembl: the transcript_id
    ref = read_fasta(os.path.join(tmp, name + "_ref.rna.fa"))
    check(len(ref) == 4045 and set(map(ours, ref)) == set(rna), "%s: transcripts differ from gffread's" % name)
    for gff_id, seq in ref.items():
        check(rna.get(ours(gff_id)) == seq, "%s: RNA of %s differs from gffread -w" % (name, gff_id))
        n_rna += 1
        row = tsv.get(ours(gff_id), {})
        gene = table[gff_id] if table[gff_id] != "." else gff_id
        check(row.get("gene_id") == (gene.split(":", 1)[1] if name == "ensembl" else gene),
              "%s: gene of %s is %s, gffread: %s" % (name, gff_id, row.get("gene_id"), gene))
        ens_gene = "gene:" + gene.split("-", 1)[1] if name == "ncbi" else gene
        check(row.get("biotype") == biotype[ens_gene], "%s: biotype of %s is %s, its gene's %s"
              % (name, gff_id, row.get("biotype"), biotype[ens_gene]))
    ref = read_fasta(os.path.join(tmp, name + "_ref.protein.fa"))
    check(len(ref) == 3996, "%s: gffread -y wrote %d proteins" % (name, len(ref)))
    # random codons: a CDS may end in two stops, or in a stop and a partial codon: that stop ends the protein, as
    # gffread -y reads it (transl_table=11 has the standard amino acids). gffread translates the first codon
    # literally; an initiator (a start codon of the CDS's table, NCBI's starts: ATG alone in the Ensembl file's
    # table 1) is M.
    ref_cds = read_fasta(os.path.join(tmp, name + "_ref.cds.fa"))
    starts = starts11 if name == "ncbi" else {"ATG"}
    for gff_id, seq in ref.items():
        want = seq.replace(".", "*")
        if want and ref_cds[gff_id][:3].upper() in starts:
            want = "M" + want[1:]
        check(prot.get(ours(gff_id), "") == want, "%s: protein of %s differs from gffread -y" % (name, gff_id))
        n_prot += 1

# Genetic codes, against proteins translated here with NCBI's tables (codons in TCAG order): chrM (GTF, named so)
# and NC_012920.1 (GFF3, RefSeq's transl_table=2 on CDS lines) with table 2 (TGA W, AGA/AGG stop, ATA M; starts
# ATT ATC ATA ATG GTG), and against gffread -y (standard code only) for chrM with transl_table=1 and for nuclear
# CDSs that end in a stop and a partial codon. A mitochondrial stop completed by polyadenylation (the CDS ends in TA)
# is no_stop_codon,partial_codon.
table2 = dict(zip(tcag, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG"))
sense2 = [c for c in tcag if table2[c] != "*"]
rc_of = lambda s: s[::-1].translate(str.maketrans("ACGT", "TGCA"))
rng = random.Random(11)
mito, nuc, cases = "", "", []  # (id, contig, strand, start0, cds, end of CDS to exon end bases)
for i, (start, stop, strand) in enumerate([("ATG", "AGA", "+"), ("ATT", "AGG", "-"), ("GTG", "TAA", "+"),
                                           ("ATA", "TA", "+"), ("ATG", "TAG", "-")]):
    body = [rng.choice(sense2) for _ in range(40)] + ["TGA", "ATA", "AGC"]
    rng.shuffle(body)
    cds = start + "".join(body) + stop
    cases.append(("mt%d" % i, len(mito) + 20, strand, cds))
    mito += "".join(rng.choice("ACGT") for _ in range(20)) + (cds if strand == "+" else rc_of(cds))
mito += "A" * 20
for i, tail in enumerate(["G", "GC"]):  # standard code: ATG, sense codons, TAA, a partial codon
    body = [c for c in tcag if c not in ("TAA", "TAG", "TGA")]
    cds = "ATG" + "".join(rng.choice(body) for _ in range(30)) + "TAA" + tail
    cases.append(("sp%d" % i, len(nuc) + 20, "+-"[i], cds))
    nuc += "".join(rng.choice("ACGT") for _ in range(20)) + (cds if i == 0 else rc_of(cds))
nuc += "A" * 20
codes_fa = os.path.join(tmp, "codes.fa")
open(codes_fa, "w").write(">chrM\n%s\n>NC_012920.1\n%s\n>c1\n%s\n" % (mito, mito, nuc))
gtf_lines, gff_std, gff_ref = [], ["##gff-version 3"], ["##gff-version 3"]
for tid, start0, strand, cds in cases:
    contig = "chrM" if tid.startswith("mt") else "c1"
    span = (contig, start0 + 1, start0 + len(cds), strand)
    gtf_lines += ['%s\tt\t%s\t%d\t%d\t.\t%s\t%s\tgene_id "g%s"; transcript_id "%s";'
                  % (span[0], kind, span[1], span[2], span[3], phase, tid, tid) for kind, phase in [("exon", "."), ("CDS", "0")]]
    if contig == "chrM":
        for lines, name, table in [(gff_std, "chrM", 1), (gff_ref, "NC_012920.1", 2)]:
            lines.append("%s\tRefSeq\tgene\t%d\t%d\t.\t%s\t.\tID=gene-%s;gene_biotype=protein_coding"
                         % ((name,) + span[1:] + (tid,)))
            lines.append("%s\tRefSeq\tCDS\t%d\t%d\t.\t%s\t0\tID=cds-%s;Parent=gene-%s;transl_table=%d"
                         % ((name,) + span[1:] + (tid, tid, table)))
for name, lines in [("codes.gtf", gtf_lines), ("codes_std.gff3", gff_std), ("codes_ref.gff3", gff_ref)]:
    open(os.path.join(tmp, name), "w").write("\n".join(lines) + "\n")
    run(iso, "extract", "-f", codes_fa, "-g", os.path.join(tmp, name), "-o", name, "--window", "10")
run("gffread", "-g", codes_fa, "-y", "codes_ref.protein.fa", os.path.join(tmp, "codes.gtf"))
run("gffread", "-g", codes_fa, "-y", "codes_std_ref.protein.fa", os.path.join(tmp, "codes_std.gff3"))
gff_prot = read_fasta(os.path.join(tmp, "codes_ref.protein.fa"))
gff_prot.update(read_fasta(os.path.join(tmp, "codes_std_ref.protein.fa")))
for name in ["codes.gtf", "codes_std.gff3", "codes_ref.gff3"]:
    prot, tsv = read_fasta(os.path.join(tmp, name + ".protein.fa")), read_tsv(os.path.join(tmp, name + ".tsv"))
    for tid, start0, strand, cds in cases:
        ours = tid if name == "codes.gtf" else "gene-" + tid
        if name != "codes.gtf" and tid.startswith("sp"):  # the GFF3s have the mitochondrial genes only
            continue
        if tid.startswith("mt") and name != "codes_std.gff3":
            want = "".join(table2[cds[k:k + 3]] for k in range(0, len(cds) - 2, 3))
            want = "M" + want[1:] if cds[:3] in starts2 else want  # the initiator
            whole = want.endswith("*")
            want, flags = want.rstrip("*"), "coding" if whole else "coding,no_stop_codon,partial_codon"
        else:
            want = gff_prot[ours].replace(".", "*")
            want = want[:-1] if want.endswith("*") else want
            flags = "coding,partial_codon" if tid.startswith("sp") else None
        check(prot.get(ours) == want, "%s: protein of %s is %s, expected %s" % (name, ours, prot.get(ours), want))
        got = tsv.get(ours, {}).get("flags")
        check(flags is None or got == flags, "%s: flags of %s are %s, expected %s" % (name, ours, got, flags))
        n_prot += 1

# DNA windows: default (196,608 bp, genomic orientation), odd window reverse-complemented on '-', and a window
# wider than the contig (N padding on both sides).
run(iso, "extract", "-f", os.path.join(data, "genome.fa.gz"), "-g", os.path.join(data, "annotation.gtf"), "-a",
    alias, "-o", "rc", "--revcomp-minus", "--window", "1001")
run(iso, "extract", "-f", os.path.join(data, "genome.fa.gz"), "-g", os.path.join(data, "annotation.gtf"), "-a",
    alias, "-o", "wide", "--window", "3000000", "--transcripts", "uc010zza.1,uc010zzc.2")
contig_len = 1500000
n_dna = 0
for prefix, window, rc in [("gtf", 196608, False), ("rc", 1001, True), ("wide", 3000000, False),
                           ("masked", 1001, True)]:
    fasta = masked if prefix == "masked" else genome
    dna = read_fasta(os.path.join(tmp, prefix + ".dna.fa"))
    descriptions = read_descriptions(os.path.join(tmp, prefix + ".dna.fa"))
    for tid, seq in dna.items():
        contig, strand, exons = models[tid]
        tss0 = min(s for s, _ in exons) - 1 if strand == "+" else max(e for _, e in exons) - 1
        if rc and strand == "-":
            end = tss0 + window // 2 + 1
            start = end - window
        else:
            start = tss0 - window // 2
            end = start + window
        lo, hi = max(start, 0), min(end, contig_len)
        if rc and strand == "-":
            want = "N" * (end - hi) + samtools(fasta, contig, lo, hi, True) + "N" * (lo - start)
        else:
            want = "N" * (lo - start) + samtools(fasta, contig, lo, hi) + "N" * (end - hi)
        check(len(seq) == window, "%s: window of %s has %d bp" % (prefix, tid, len(seq)))
        check(seq == want, "%s: DNA window of %s differs from samtools faidx" % (prefix, tid))
        # the header: the bases on the contig as a region samtools takes, then the Ns past either end
        desc = "%s:%d-%d(%s)" % (contig, lo + 1, hi, "-" if rc and strand == "-" else "+")
        if lo > start or hi < end:
            desc += " N_pad=%d,%d" % (lo - start, end - hi)
        check(descriptions[tid] == desc, "%s: header of %s is '%s', expected '%s'" % (prefix, tid, descriptions[tid], desc))
        n_dna += 1

# selection by region (1-based, overlap): only the transcripts overlapping 20:650000-660000 (alias name works)
run(iso, "extract", "-f", os.path.join(data, "genome.fa.gz"), "-g", os.path.join(data, "annotation.gtf"), "-a",
    alias, "-o", "region", "--region", "chr20:650000-660000", "--window", "10")
want = {t for t, (_, _, ex) in models.items() if min(s for s, _ in ex) <= 660000 and max(e for _, e in ex) >= 650000}
check(set(read_tsv(os.path.join(tmp, "region.tsv"))) == want, "--region selected the wrong transcripts")

# A -1 ribosomal slippage as RefSeq writes it: CDS lines with exception=ribosomal slippage overlapping by one base
# (the file was refused before), on both strands and with the CDS under the gene (prokaryotes): RNA and protein as
# gffread -w / -y read the segments (the overlap's base twice).
rng = random.Random(29)
sense = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG", "TGA")]
slip_seq = "".join(rng.choice("ACGT") for _ in range(600))
lines = ["##gff-version 3"]
for k, (strand, under_gene) in enumerate([("+", False), ("-", False), ("+", True)]):
    lo = 30 + 190 * k
    cds = "ATG" + "".join(rng.choice(sense) for _ in range(40)) + "TAA"  # 126 bases, read with one base twice
    cut = 3 * 20 + 1  # the first segment ends inside codon 21; the second starts on its last base again
    genomic = cds[:cut] + cds[cut + 1:]  # 125 genomic bases, read as 126
    if strand == "-":
        genomic = genomic[::-1].translate(str.maketrans("ACGT", "TGCA"))
    slip_seq = slip_seq[:lo + 10] + genomic + slip_seq[lo + 10 + len(genomic):]
    a, b = lo + 11, lo + 10 + len(genomic)  # 1-based CDS span
    first = (a, a + cut - 1) if strand == "+" else (b - cut + 1, b)
    second = (a + cut - 1, b) if strand == "+" else (a, b - cut + 1)
    g, t = "gene-S%d" % k, "rna-S%d" % k
    lines.append("c1\tRefSeq\tgene\t%d\t%d\t.\t%s\t.\tID=%s;gene_biotype=protein_coding" % (lo + 1, lo + 160, strand, g))
    parent = g
    if not under_gene:
        lines += ["c1\tRefSeq\tmRNA\t%d\t%d\t.\t%s\t.\tID=%s;Parent=%s" % (lo + 1, lo + 160, strand, t, g),
                  "c1\tRefSeq\texon\t%d\t%d\t.\t%s\t.\tID=exon-S%d;Parent=%s" % (lo + 1, lo + 160, strand, k, t)]
        parent = t
    for s0, e0 in sorted([first, second]):
        lines.append("c1\tRefSeq\tCDS\t%d\t%d\t.\t%s\t0\tID=cds-S%d;Parent=%s;exception=ribosomal slippage"
                     % (s0, e0, strand, k, parent))
open(os.path.join(tmp, "slip.fa"), "w").write(">c1\n%s\n" % slip_seq)
open(os.path.join(tmp, "slip.gff3"), "w").write("\n".join(lines) + "\n")
run(iso, "extract", "-f", os.path.join(tmp, "slip.fa"), "-g", os.path.join(tmp, "slip.gff3"), "-o", "slip",
    "--window", "10")
run("gffread", "-g", os.path.join(tmp, "slip.fa"), "-w", "slip_ref.rna.fa", "-y", "slip_ref.protein.fa",
    os.path.join(tmp, "slip.gff3"))
ours_rna, ours_prot = read_fasta(os.path.join(tmp, "slip.rna.fa")), read_fasta(os.path.join(tmp, "slip.protein.fa"))
ref_rna, ref_prot = read_fasta(os.path.join(tmp, "slip_ref.rna.fa")), read_fasta(os.path.join(tmp, "slip_ref.protein.fa"))
slip_rows = read_tsv(os.path.join(tmp, "slip.tsv"))
check(len(ref_prot) == 3 and len(ours_prot) == 3, "slippage: %d proteins, gffread %d" % (len(ours_prot), len(ref_prot)))
for tid, seq in ref_prot.items():
    want = seq.replace(".", "*").rstrip("*")
    check(len(want) == 41 and ours_prot.get(tid) == want, "slippage: protein of %s is %s, gffread -y %s"
          % (tid, ours_prot.get(tid), want))
    check(ours_rna.get(tid) == ref_rna.get(tid), "slippage: RNA of %s differs from gffread -w" % tid)
    check(slip_rows.get(tid, {}).get("flags") == "coding,ribosomal_slippage", "slippage: flags of %s: %s"
          % (tid, slip_rows.get(tid, {}).get("flags")))
    n_prot += 1

shutil.rmtree(tmp)
print("compared %d RNA with gffread -w, %d proteins with gffread -y, %d DNA windows with samtools faidx"
      % (n_rna, n_prot, n_dna))
for f in failures[:20]:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
