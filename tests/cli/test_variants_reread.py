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
import os
import random

from variants_synth import (Checker, apply_edit, arguments, check_reread, contig_bases, edit_on, gff3, mirror,
                            revcomp, run_variants, sense_drawer, subst, vcf_record, write_fa, write_vcf)

iso, work, data, MODEL = arguments()
chk = Checker()
check = chk.check

rng = random.Random(41)
sense = sense_drawer(rng)
L = 700
EXONS = [(40, 140), (240, 640)]  # intron [140, 240): GT...AG


def layout(read):
    """Genomic CDS segments (plus strand) of a CDS of len(read) bases starting at 90 in exon 1."""
    first = EXONS[0][1] - 90
    return [(90, EXONS[0][1]), (EXONS[1][0], EXONS[1][0] + len(read) - first)]


def contig(segs, read):
    return "".join(contig_bases(rng, L, EXONS, segs, read))


# Slippage: the read CDS is ATG + 60 codons + TAA; its base 135 (codon 45's first, equal to its second) is read
# twice: the genome holds it once, at 325. Read straight on, the genome has a TAA just after it (as PEG10's ORF1).
slip_read = "ATG" + sense(44) + "AAG" + "CTA" + "AAA" + sense(13) + "TAA"
slip_genomic = slip_read[:136] + slip_read[137:]
SHARED = 240 + 135 - 50
slip_segs = [(90, 140), (240, SHARED + 1), (SHARED, 240 + len(slip_genomic) - 50)]
# Partial codon: ATG + 60 codons + TAA + GC, the CDS line ending 2 bases after the stop codon (188 bases).
part_cds = "ATG" + sense(60) + "TAA" + "GC"
part_segs = layout(part_cds)
TX = {"slip": (contig(slip_segs, slip_read), slip_segs), "part": (contig(part_segs, part_cds), part_segs)}


# The alleles, on the plus strand as (start, end, alt) 0-based; the minus-strand contig gets their mirror image.
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


def contigs():
    """(contig, tx kind, strand, sequence, exons, cds) of the four transcripts."""
    for kind, (seq, cds) in TX.items():
        yield f"{kind}_plus", kind, "+", seq, EXONS, cds
        yield f"{kind}_minus", kind, "-", revcomp(seq), mirror(EXONS, L), mirror(cds, L)


names = [c[0] for c in contigs()]
write_fa(os.path.join(work, "genome.fa"), {c[0]: c[3] for c in contigs()})
with open(os.path.join(work, "annotation.gff3"), "w") as f:
    f.write("##gff-version 3\n")
    for name, kind, strand, seq, exons, cds in contigs():
        f.write("\n".join(gff3(name, strand, exons, cds, kind == "slip")) + "\n")
records = [vcf_record(name, allele, seq, edit_on(strand, edit, L))
           for name, kind, strand, seq, exons, cds in contigs() for (k, allele), (edit, _) in P.items() if k == kind]
vcf = os.path.join(work, "alleles.vcf")
write_vcf(vcf, L, names, records)
cache = os.path.join(work, "cache")
rows = run_variants(chk, iso, MODEL, work, vcf, cache)

# one edited genome per allele: every contig carries that allele (on its own transcript kind) or none
for (kind, allele), (edit, term) in sorted(P.items()):
    seqs, lines, want = {}, ["##gff-version 3"], {}
    for name, k, strand, seq, exons, cds in contigs():
        if k != kind:
            continue
        seqs[name], ex, cd, want["rna-" + name], _ = apply_edit(strand, seq, exons, cds, edit, L, kind == "slip")
        lines += gff3(name, strand, ex, cd, kind == "slip")
        row = rows.get((name, allele))
        if check(row is not None, f"{name} {allele}: no row in the TSV"):
            terms = row["consequence"].split("&")
            check(term in terms and (term != "incomplete_terminal_codon_variant" or terms == [term]),
                  f"{name} {allele}: consequence {row['consequence']}, expected {term}")
    check_reread(chk, iso, MODEL, os.path.join(work, f"{kind}.{allele}"), cache, f"{kind} {allele}", seqs, lines, want)

chk.finish(len(P) * 2, "variants re-read: all checks passed")
