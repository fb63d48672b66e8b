"""isoformer extract's genetic codes against Biopython's NCBI tables (Bio.Data.CodonTable, Bio.Seq.translate): for
every NCBI translation table, a CDS of every sense codon of the table in random order, begun by one of its start
codons and ended by one of its stops, on either strand, with transl_table=N on its CDS line (GFF3 and GTF). The
protein must be Biopython's translate(table=N, cds=True): initiator read as M, stop dropped, no flag but
`coding`. Two
documented differences: table 1 starts at ATG alone (a TTG/CTG start is read as L and flagged no_start_codon, as
VEP and bcftools csq read nuclear genes), and tables 27, 28 and 31, whose stops also code for an amino acid, are
refused naming the table. Usage: test_genetic_codes.py ISOFORMER_BINARY"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

from Bio.Data import CodonTable
from Bio.Seq import Seq

iso = os.path.abspath(sys.argv[1])
tmp = tempfile.mkdtemp(prefix="iso_codes_")
failures = []
AMBIGUOUS = {27, 28, 31}


def check(cond, msg):
    if not cond:
        failures.append(msg)


def read_fasta(path):
    seqs, name = {}, None
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = ""
        elif name:
            seqs[name] += line
    return seqs


rc_of = lambda s: s[::-1].translate(str.maketrans("ACGT", "TGCA"))
rng = random.Random(5)
genome, cases = "", []  # (transcript id, table, strand, 1-based start, CDS, expected protein, expected flags)
tables = sorted(CodonTable.unambiguous_dna_by_id.items())
check(len(tables) >= 25, "Biopython knows %d tables" % len(tables))
for table, code in tables:
    if table in AMBIGUOUS:
        continue
    sense = [c for c in code.forward_table if c not in code.stop_codons]
    starts = ["ATG"] if table == 1 else code.start_codons
    for k, start in enumerate([rng.choice(starts), "TTG"] if table == 1 else [rng.choice(starts)]):
        body = sense[:]
        rng.shuffle(body)
        cds = start + "".join(body) + rng.choice(code.stop_codons)
        if start in starts:
            want, flags = str(Seq(cds).translate(table=table, cds=True)), "coding"
        else:
            want, flags = str(Seq(cds).translate(table=table, to_stop=True)), "coding,no_start_codon"
        strand = "+-"[(table + k) % 2]
        cases.append(("t%d_%d" % (table, k), table, strand, len(genome) + 31, cds, want, flags))
        genome += "".join(rng.choice("ACGT") for _ in range(30)) + (cds if strand == "+" else rc_of(cds))
genome += "A" * 30
fasta = os.path.join(tmp, "codes.fa")
open(fasta, "w").write(">c1\n%s\n" % genome)
gff, gtf = ["##gff-version 3"], []
for tid, table, strand, start, cds, _, _ in cases:
    span = "c1\tt\t%%s\t%d\t%d\t.\t%s\t%%s\t" % (start, start + len(cds) - 1, strand)
    gff += [span % ("mRNA", ".") + "ID=%s" % tid, span % ("exon", ".") + "Parent=%s" % tid,
            span % ("CDS", "0") + "Parent=%s;transl_table=%d" % (tid, table)]
    gtf += [span % ("exon", ".") + 'gene_id "g%s"; transcript_id "%s";' % (tid, tid),
            span % ("CDS", "0") + 'gene_id "g%s"; transcript_id "%s"; transl_table "%d";' % (tid, tid, table)]
for name, lines in [("codes.gff3", gff), ("codes.gtf", gtf)]:
    ann = os.path.join(tmp, name)
    open(ann, "w").write("\n".join(lines) + "\n")
    r = subprocess.run([iso, "extract", "-f", fasta, "-g", ann, "-o", os.path.join(tmp, name), "--window", "10"],
                       capture_output=True, text=True)
    if r.returncode:
        check(False, "%s: extract failed: %s" % (name, r.stderr))
        continue
    prot = read_fasta(os.path.join(tmp, name + ".protein.fa"))
    with open(os.path.join(tmp, name + ".tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = {r[0]: dict(zip(header, r)) for r in (l.rstrip("\n").split("\t") for l in f)}
    for tid, table, strand, _, cds, want, flags in cases:
        check(prot.get(tid) == want, "%s: table %d (%s, starts %s): protein\n  %s\nBiopython:\n  %s"
              % (name, table, strand, cds[:3], prot.get(tid), want))
        check(rows.get(tid, {}).get("flags") == flags, "%s: table %d: flags %s, expected %s"
              % (name, table, rows.get(tid, {}).get("flags"), flags))

# NCBI's tables whose stop codons also code for an amino acid: refused, naming the table and the file:line
for table in sorted(AMBIGUOUS):
    ann = os.path.join(tmp, "t%d.gff3" % table)
    open(ann, "w").write("##gff-version 3\nc1\tt\tmRNA\t31\t90\t.\t+\t.\tID=x\n"
                         "c1\tt\tCDS\t31\t90\t.\t+\t0\tParent=x;transl_table=%d\n" % table)
    r = subprocess.run([iso, "extract", "-f", fasta, "-g", ann, "-o", os.path.join(tmp, "t%d" % table)],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "t%d.gff3:3: transl_table '%d'" % (table, table) in r.stderr,
          "table %d: exit %d, %s" % (table, r.returncode, r.stderr.strip()))
    check(not os.path.exists(os.path.join(tmp, "t%d.protein.fa" % table)), "table %d: output written" % table)

shutil.rmtree(tmp)
for f in failures:
    print("FAIL:", f)
print("%d transcripts over %d tables, %d failures" % (len(cases), len(tables) - len(AMBIGUOUS), len(failures)))
sys.exit(1 if failures else 0)
