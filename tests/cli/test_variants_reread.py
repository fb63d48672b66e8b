"""isoformer variants on the two kinds of CDS that are read again with their annotation's quirk kept: a -1
ribosomal slippage (RefSeq's exception=ribosomal slippage, as PEG10: CDS lines overlapping by one base, read
twice) and a CDS whose stop codon is followed by a partial codon. Each on both strands (the minus strand is the
reverse complement of the plus strand's contig), with SNVs and indels in the CDS, at and next to the shared
base, in and after the stop codon.

The expected alternative protein is the test's own: the edit applied to the contig's string, the CDS segments
shifted (the slippage's segment after the overlap starting one base back from where the segment before it now
ends), read from the start codon to the first stop in frame, on into the 3' UTR when the stop is lost, and
translated by Biopython. It is checked three ways: `isoformer extract` on the edited contig with that CDS
written as GFF3 gives Biopython's protein (the GFF3 says what the test means); `isoformer predict` on it, with
the cache that `variants` filled, computes no encoder input of its own (variants read the same protein, RNA and
window); and the consequence is the one the allele was built to have.
Usage: test_variants_reread.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import csv
import os
import random
import re
import shutil
import subprocess
import sys

from Bio.Seq import Seq

iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
MODEL = ["--model", f"{data}/demo-model", "--device", "cpu", "--threads", "2"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    check(r.returncode == 0, f"{' '.join(cmd[:2])} exit {r.returncode}: {r.stderr[-2000:]}")
    return r


def revcomp(s):
    return s.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


rng = random.Random(41)
STOPS = ("TAA", "TAG", "TGA")
SENSE = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in STOPS]
L = 700
EXONS = [(40, 140), (240, 640)]  # intron [140, 240): GT...AG


def sense(n):
    return "".join(rng.choice(SENSE) for _ in range(n))


def layout(read):
    """Genomic CDS segments (plus strand) of a CDS of len(read) bases starting at 90 in exon 1."""
    first = EXONS[0][1] - 90
    return [(90, EXONS[0][1]), (EXONS[1][0], EXONS[1][0] + len(read) - first)]


def contig(cds_genomic):
    s = [rng.choice("ACGT") for _ in range(L)]
    s[140:142], s[238:240] = "GT", "AG"
    s[90:140] = cds_genomic[:50]
    s[240:240 + len(cds_genomic) - 50] = cds_genomic[50:]
    return "".join(s)


# Slippage: the read CDS is ATG + 60 codons + TAA; its base 135 (codon 45's first, equal to its second) is read
# twice: the genome holds it once, at 325. Read straight on, the genome has a TAA just after it (as PEG10's ORF1).
slip_read = "ATG" + sense(44) + "AAG" + "CTA" + "AAA" + sense(13) + "TAA"
slip_genomic = slip_read[:136] + slip_read[137:]
SHARED = 240 + 135 - 50
slip_segs = [(90, 140), (240, SHARED + 1), (SHARED, 240 + len(slip_genomic) - 50)]
# Partial codon: ATG + 60 codons + TAA + GC, the CDS line ending 2 bases after the stop codon (188 bases).
part_cds = "ATG" + sense(60) + "TAA" + "GC"
part_segs = layout(part_cds)
TX = {"slip": (contig(slip_genomic), slip_segs), "part": (contig(part_cds), part_segs)}


def mirror(segs):
    return sorted((L - e, L - s) for s, e in segs)


# The alleles, on the plus strand as (start, end, alt) 0-based; the minus-strand contig gets their mirror image.
def read_positions(segs):
    return [p for s, e in segs for p in range(s, e)]


def subst(seq, segs, k, want):
    """The first SNV from read CDS base k on (plus strand) that turns its codon into one that want accepts."""
    pos = read_positions(segs)
    for kk in range(k, len(pos)):
        c = kk - kk % 3
        codon = "".join(seq[p] for p in pos[c:c + 3])
        for b in "ACGT":
            new = codon[:kk % 3] + b + codon[kk % 3 + 1:]
            if b != seq[pos[kk]] and want(str(Seq(codon).translate()), str(Seq(new).translate())):
                return (pos[kk], pos[kk] + 1, b)
    raise AssertionError(f"no SNV from base {k}")


P = {}  # (tx, kind) -> (edit, expected consequence term)
seq_s, seq_p = TX["slip"][0], TX["part"][0]
missense = lambda a, b: a != b and "*" not in (a, b)
P["slip", "missense"] = (subst(seq_s, slip_segs, 30, missense), "missense_variant")
P["slip", "stop_gained"] = (subst(seq_s, slip_segs, 60, lambda a, b: b == "*" and a != "*"), "stop_gained")
# the shared base itself: read twice, it changes two codons of the protein
P["slip", "shared_snv"] = ((SHARED, SHARED + 1, "C" if seq_s[SHARED] != "C" else "G"), "missense_variant")
P["slip", "shared_ins"] = ((SHARED, SHARED, "G"), "frameshift_variant")  # inserted before the shared base
P["slip", "shared_del"] = ((SHARED, SHARED + 1, ""), "frameshift_variant")
P["slip", "after_del"] = ((SHARED + 20, SHARED + 21, ""), "frameshift_variant")
P["slip", "stop_lost"] = (subst(seq_s, slip_segs, len(slip_read) - 3, lambda a, b: a == "*" and b != "*"),
                          "stop_lost")
P["part", "missense"] = (subst(seq_p, part_segs, 30, missense), "missense_variant")
P["part", "frameshift"] = ((300, 301, ""), "frameshift_variant")
P["part", "stop_lost"] = (subst(seq_p, part_segs, len(part_cds) - 5, lambda a, b: a == "*" and b != "*"), "stop_lost")
P["part", "stop_retained"] = (subst(seq_p, part_segs, len(part_cds) - 5, lambda a, b: a == b == "*"),
                              "stop_retained_variant")
tail = part_segs[-1][1] - 2
P["part", "tail_snv"] = ((tail, tail + 1, "A" if seq_p[tail] != "A" else "T"), "incomplete_terminal_codon_variant")
P["part", "tail_ins"] = ((tail + 1, tail + 1, "T"), "incomplete_terminal_codon_variant")


def mapb(x, edit):
    """A boundary after the edit: bases inserted at x go after it (with the base that follows)."""
    s, e, alt = edit
    return x if x <= s else x + len(alt) - (e - s) if x >= e else s + min(x - s, len(alt))


def alt_transcript(strand, seq, exons, cds, edit, slip):
    """Exons and CDS on the edited contig (the CDS read again), and Biopython's protein of that CDS."""
    ex = [(mapb(s, edit), mapb(e, edit)) for s, e in exons]
    cd = [(mapb(s, edit), mapb(e, edit)) for s, e in cds]
    order = list(range(len(cd))) if strand == "+" else list(range(len(cd)))[::-1]
    for a, b in zip(order, order[1:]):  # transcript order: the overlap of a slippage starts one base back
        if slip and cds[a][0] < cds[b][1] and cds[b][0] < cds[a][1]:
            cd[b] = (cd[a][1] - 1, cd[b][1]) if strand == "+" else (cd[b][0], cd[a][0] + 1)
    oriented = lambda s: s if strand == "+" else revcomp(s)
    coding = "".join(oriented(seq[cd[k][0]:cd[k][1]]) for k in order)
    rna_pos = [p for s, e in ex for p in range(s, e)][:: 1 if strand == "+" else -1]
    three = cd[order[-1]][1] - 1 if strand == "+" else cd[order[-1]][0]
    after = rna_pos[rna_pos.index(three) + 1:]
    read = coding + "".join(oriented(seq[p]) for p in after)
    protein = str(Seq(read[:len(read) // 3 * 3]).translate(to_stop=True)) if read[:3] == "ATG" else ""
    n = min(len(read), 3 * len(protein) + 3)  # bases read, the stop codon included
    segs, left = [], n
    for k in order:  # the CDS cut where the stop is, or read on into the 3' UTR
        s, e = cd[k]
        take = min(left, e - s)
        if take:
            segs.append((s, s + take) if strand == "+" else (e - take, e))
        left -= take
    for p in after[:max(0, left)]:
        segs.append((p, p + 1))
    merged = []
    for s, e in sorted(segs):
        if merged and merged[-1][1] == s:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return ex, merged, protein


def gff3(name, strand, exons, cds, slip):
    g, t = "gene-" + name, "rna-" + name
    lo, hi = exons[0][0], exons[-1][1]
    lines = [f"{name}\tRefSeq\tgene\t{lo + 1}\t{hi}\t.\t{strand}\t.\tID={g};gene_biotype=protein_coding",
             f"{name}\tRefSeq\tmRNA\t{lo + 1}\t{hi}\t.\t{strand}\t.\tID={t};Parent={g}"]
    lines += [f"{name}\tRefSeq\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tParent={t}" for s, e in exons]
    done = 0
    for s, e in (cds if strand == "+" else cds[::-1]):
        extra = ";exception=ribosomal slippage" if slip else ""
        lines.append(f"{name}\tRefSeq\tCDS\t{s + 1}\t{e}\t.\t{strand}\t{(3 - done % 3) % 3}\tID=cds-{name};"
                     f"Parent={t}{extra}")
        done += e - s
    return lines


def contigs():
    """(contig, tx kind, strand, sequence, exons, cds) of the four transcripts."""
    for kind, (seq, cds) in TX.items():
        yield f"{kind}_plus", kind, "+", seq, EXONS, cds
        yield f"{kind}_minus", kind, "-", revcomp(seq), mirror(EXONS), mirror(cds)


def edit_on(name, strand, edit):
    s, e, alt = edit
    return edit if strand == "+" else (L - e, L - s, revcomp(alt))


def write_fa(path, seqs):
    with open(path, "w") as f:
        for n, s in seqs.items():
            f.write(f">{n}\n{s}\n")


write_fa(os.path.join(work, "genome.fa"), {c[0]: c[3] for c in contigs()})
with open(os.path.join(work, "annotation.gff3"), "w") as f:
    f.write("##gff-version 3\n")
    for name, kind, strand, seq, exons, cds in contigs():
        f.write("\n".join(gff3(name, strand, exons, cds, kind == "slip")) + "\n")
records = []
for name, kind, strand, seq, exons, cds in contigs():
    for (k, allele), (edit, _) in P.items():
        if k != kind:
            continue
        s, e, alt = edit_on(name, strand, edit)
        if e - s == 1 and len(alt) == 1:
            records.append((name, s + 1, f"{allele}", seq[s], alt))
        else:
            records.append((name, s, f"{allele}", seq[s - 1:e], seq[s - 1] + alt))
vcf = os.path.join(work, "alleles.vcf")
with open(vcf, "w") as f:
    f.write("##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID={c[0]},length={L}>\n" for c in contigs()))
    f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    for r in sorted(records, key=lambda r: ([c[0] for c in contigs()].index(r[0]), r[1])):
        f.write("\t".join(map(str, r)) + "\t.\tPASS\t.\n")
cache = os.path.join(work, "cache")
run([iso, "variants", *MODEL, "--fasta", os.path.join(work, "genome.fa"),
     "--gtf", os.path.join(work, "annotation.gff3"), "--vcf", vcf, "--cache", cache, "--out", os.path.join(work, "v")])
rows = {}
if os.path.exists(os.path.join(work, "v.variants.tsv")):
    with open(os.path.join(work, "v.variants.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["transcript_id"] == "rna-" + row["chrom"]:
                rows[row["chrom"], row["id"]] = row

# one edited genome per allele: every contig carries that allele (on its own transcript kind) or none
for (kind, allele), (edit, term) in sorted(P.items()):
    d = os.path.join(work, f"{kind}.{allele}")
    os.makedirs(d)
    seqs, lines, want = {}, ["##gff-version 3"], {}
    for name, k, strand, seq, exons, cds in contigs():
        if k != kind:
            continue
        s, e, alt = edit_on(name, strand, edit)
        seqs[name] = seq[:s] + alt + seq[e:]
        ex, cd, protein = alt_transcript(strand, seqs[name], exons, cds, (s, e, alt), kind == "slip")
        lines += gff3(name, strand, ex, cd, kind == "slip")
        want["rna-" + name] = protein
        row = rows.get((name, allele))
        if check(row is not None, f"{name} {allele}: no row in the TSV"):
            terms = row["consequence"].split("&")
            check(term in terms and (term != "incomplete_terminal_codon_variant" or terms == [term]),
                  f"{name} {allele}: consequence {row['consequence']}, expected {term}")
    write_fa(os.path.join(d, "genome.fa"), seqs)
    with open(os.path.join(d, "annotation.gff3"), "w") as f:
        f.write("\n".join(lines) + "\n")
    run([iso, "extract", "-f", os.path.join(d, "genome.fa"), "-g", os.path.join(d, "annotation.gff3"), "-o",
         os.path.join(d, "x"), "--window", "10"])
    got, name = {}, None
    for line in open(os.path.join(d, "x.protein.fa")) if os.path.exists(os.path.join(d, "x.protein.fa")) else []:
        if line.startswith(">"):
            name = line[1:].split()[0]
            got[name] = ""
        else:
            got[name] += line.strip()
    check(got == want, f"{kind} {allele}: the test's GFF3 translates to {got}, Biopython {want}")
    r = run([iso, "predict", *MODEL, "--fasta", os.path.join(d, "genome.fa"),
             "--gtf", os.path.join(d, "annotation.gff3"), "--cache", cache, "-v", "--out", os.path.join(d, "p")])
    m = [re.search(p, r.stderr) for p in (r"(\d+) transcripts in", r"DNA windows: (\d+) computed",
                                          r"proteins: (\d+) computed", r"cache hits (\d+)")]
    if check(all(m), f"{kind} {allele}: predict -v statistics not found in: {r.stderr[-1000:]}"):
        n_tx, windows, proteins, hits = (int(x.group(1)) for x in m)
        check(windows + n_tx + proteins - hits == 0,
              f"{kind} {allele}: predict computed {windows + n_tx + proteins - hits} encoder inputs variants did not "
              f"(variants read another protein than {want})")

print(f"{len(P) * 2} allele-transcript pairs")
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("variants re-read: all checks passed")
