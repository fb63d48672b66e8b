"""isoformer variants on CDSs read again, the cases test_variants_reread.py leaves out, each on both strands (the
minus strand is the reverse complement of the plus strand's contig):
- a selenoprotein (a TGA read as selenocysteine, GFF3 stop_codon_redefined_as_selenocysteine, whose coordinates
  give the codon's lowest base on either strand) edited elsewhere in its CDS: the reading goes on past the Sec;
- a CDS ending mid-exon whose lost stop or frameshift reads on across the next exon junction;
- a deletion of a whole coding exon (and its splice sites), which leaves a CDS segment empty;
- a partial codon after the stop: a deletion across the stop / partial-codon boundary, one of the stop codon,
  one of the partial codon and the 3' UTR after it, an insertion before the partial codon;
- a ribosomal slippage with two shared bases (three CDS segments), edited at and between them.

The expected protein is the test's own, as in test_variants_reread.py: the edit applied to the contig's string,
exons and CDS segments shifted, read from the start codon to the first stop in frame that is not the
selenocysteine's codon, translated by Biopython; `isoformer extract` on the edited contig with that CDS written as
GFF3 gives that protein, and `isoformer predict` on it, with the cache `variants` filled, computes no encoder
input of its own. Consequences are checked where the allele was built to have one.
Usage: test_variants_reread_edge.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import os
import random

from variants_synth import (Checker, apply_edit, arguments, check_reread, contig_bases, edit_on, gff3, mirror,
                            proteins, read_positions, revcomp, run_variants, sense_drawer, subst, vcf_record,
                            write_fa, write_vcf)

iso, work, data, MODEL = arguments()
chk = Checker()
check, run = chk.check, chk.run

rng = random.Random(43)
sense = sense_drawer(rng)
L = 900
EXONS = [(40, 140), (240, 300), (400, 860)]  # introns [140, 240) and [300, 400): GT...AG


def contig(segs, read, utr_frame=0):
    """The plus-strand contig holding read on segs (a base read twice held once), sense codons in the 3' UTR's
    first utr_frame bases (in frame with the CDS) so that a lost stop reads on across the next junction."""
    s = contig_bases(rng, L, EXONS, segs, read)
    pos = read_positions(segs)
    rna = [p for a, b in EXONS for p in range(a, b)]
    after = rna[rna.index(pos[-1]) + 1:]
    utr = sense(utr_frame // 3 + 1)
    for k, p in enumerate(after[:utr_frame]):
        s[p] = utr[k]
    return "".join(s)


TX = {}  # kind -> (contig, cds segments, slippage, sec codon's genomic lowest base or None)
# selenoprotein: ATG + 79 codons, the 40th a TGA read as Sec (in exon 3), TAA
sec_read = "ATG" + sense(39) + "TGA" + sense(39) + "TAA"
sec_segs = [(90, 140), (240, 300), (400, 400 + len(sec_read) - 110)]
SEC = read_positions(sec_segs)[120]
TX["sec"] = (contig(sec_segs, sec_read), sec_segs, False, SEC)
# a CDS ending 29 bases before exon 2's end: 81 bases, a lost stop reads on across the exon 2/3 junction
on_read = "ATG" + sense(25) + "TAA"
on_segs = [(90, 140), (240, 271)]
TX["readon"] = (contig(on_segs, on_read, utr_frame=29 + 30), on_segs, False, None)
# exon 2 wholly coding: deleting it (and its splice sites) leaves a CDS segment empty
skip_read = "ATG" + sense(70) + "TAA"
skip_segs = [(90, 140), (240, 300), (400, 400 + len(skip_read) - 110)]
TX["skip"] = (contig(skip_segs, skip_read), skip_segs, False, None)
# a partial codon GC after the stop codon, in exon 3
part_read = "ATG" + sense(60) + "TAA" + "GC"
part_segs = [(90, 140), (240, 300), (400, 400 + len(part_read) - 110)]
TX["part"] = (contig(part_segs, part_read), part_segs, False, None)
# slippage with two shared bases (read bases 135/136 and 201/202), both in exon 3
slip_read = "ATG" + sense(44) + "AAG" + "CTA" + sense(20) + "CCA" + "AAC" + sense(10) + "TAA"
S1 = 400 + 135 - 110
S2 = S1 + (201 - 136)
slip_segs = [(90, 140), (240, 300), (400, S1 + 1), (S1, S2 + 1), (S2, 400 + len(slip_read) - 112)]
TX["slip2"] = (contig(slip_segs, slip_read), slip_segs, True, None)


missense = lambda a, b: a != b and "*" not in (a, b)
lost = lambda a, b: a == "*" and b != "*"
P = {}  # (kind, allele) -> (edit on the plus strand, [start, end) 0-based, alt; expected consequence or None)
seq = {k: v[0] for k, v in TX.items()}
P["sec", "missense"] = (subst(seq["sec"], sec_segs, 30, missense), "missense_variant")
P["sec", "inframe_del"] = ((250, 253, ""), "inframe_deletion")
P["sec", "after_sec"] = (subst(seq["sec"], sec_segs, 150, missense), "missense_variant")
P["readon", "stop_lost"] = (subst(seq["readon"], on_segs, len(on_read) - 3, lost), "stop_lost")
P["readon", "frameshift"] = ((255, 256, ""), "frameshift_variant")
P["skip", "exon_del"] = ((236, 304, ""), None)
P["skip", "missense"] = (subst(seq["skip"], skip_segs, 120, missense), "missense_variant")
pe = part_segs[-1][1]  # the partial codon is [pe - 2, pe), the stop codon [pe - 5, pe - 2)
P["part", "straddle_del"] = ((pe - 3, pe - 1, ""), None)
P["part", "stop_del"] = ((pe - 5, pe - 2, ""), "stop_lost")
P["part", "tail_utr_del"] = ((pe - 2, pe + 3, ""), "incomplete_terminal_codon_variant")
P["part", "tail_ins0"] = ((pe - 2, pe - 2, "T"), "incomplete_terminal_codon_variant")
P["part", "missense"] = (subst(seq["part"], part_segs, 150, missense), "missense_variant")
P["slip2", "s2_snv"] = ((S2, S2 + 1, "C" if seq["slip2"][S2] != "C" else "G"), None)
P["slip2", "s2_del"] = ((S2, S2 + 1, ""), "frameshift_variant")
P["slip2", "between_del"] = ((S1 + 20, S1 + 21, ""), "frameshift_variant")
P["slip2", "before_ins"] = ((S1 - 10, S1 - 10, "GCA"), "inframe_insertion")


def contigs():
    """(contig, kind, strand, sequence, exons, cds, sec) of the transcripts."""
    for kind, (sq, cds, slip, sec) in TX.items():
        yield f"{kind}_plus", kind, "+", sq, EXONS, cds, sec
        # on the minus strand the Sec codon's lowest base is the mirror of the plus codon's highest
        yield (f"{kind}_minus", kind, "-", revcomp(sq), mirror(EXONS, L), mirror(cds, L),
               None if sec is None else L - sec - 3)


names = [c[0] for c in contigs()]
write_fa(os.path.join(work, "genome.fa"), {c[0]: c[3] for c in contigs()})
with open(os.path.join(work, "annotation.gff3"), "w") as f:
    f.write("##gff-version 3\n")
    for name, kind, strand, sq, exons, cds, sec in contigs():
        f.write("\n".join(gff3(name, strand, exons, cds, TX[kind][2], sec)) + "\n")
records = [vcf_record(name, allele, sq, edit_on(strand, edit, L))
           for name, kind, strand, sq, *_ in contigs() for (k, allele), (edit, _) in P.items() if k == kind]
vcf = os.path.join(work, "alleles.vcf")
write_vcf(vcf, L, names, records)

# the reference proteins first: the test's GFF3 is what it means (Sec read as U on both strands)
run([iso, "extract", "-f", os.path.join(work, "genome.fa"), "-g", os.path.join(work, "annotation.gff3"), "-o",
     os.path.join(work, "ref"), "--window", "10"])
ref = proteins(os.path.join(work, "ref.protein.fa"))
check(ref.get("rna-sec_plus") == ref.get("rna-sec_minus") and "U" in ref.get("rna-sec_plus", ""),
      f"the selenoprotein reads U on both strands: {ref.get('rna-sec_plus')} {ref.get('rna-sec_minus')}")

cache = os.path.join(work, "cache")
rows = run_variants(chk, iso, MODEL, work, vcf, cache)

for (kind, allele), (edit, term) in sorted(P.items()):
    seqs, lines, want = {}, ["##gff-version 3"], {}
    for name, k, strand, sq, exons, cds, sec in contigs():
        if k != kind:
            continue
        seqs[name], ex, cd, want["rna-" + name], sec2 = apply_edit(strand, sq, exons, cds, edit, L, TX[kind][2], sec)
        lines += gff3(name, strand, ex, cd, TX[kind][2], sec2)
        row = rows.get((name, allele))
        if check(row is not None, f"{name} {allele}: no row in the TSV") and term:
            terms = row["consequence"].split("&")
            check(term in terms, f"{name} {allele}: consequence {row['consequence']}, expected {term}")
    check(want[f"rna-{kind}_plus"] == want[f"rna-{kind}_minus"], f"{kind} {allele}: the test's strands differ")
    check_reread(chk, iso, MODEL, os.path.join(work, f"{kind}.{allele}"), cache, f"{kind} {allele}", seqs, lines, want)

chk.finish(len(P) * 2, "variants re-read edge cases: all checks passed")
