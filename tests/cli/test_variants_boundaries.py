"""isoformer variants at the edges of a CDS, each case on both strands (the minus strand is the reverse complement
of the plus strand's contig, so both must give the same answer):
- an insertion right after the stop codon (plus: at the CDS's highest end; minus: at its lowest base, between it
  and the 3' UTR) and one right before the start codon: Ensembl VEP (VariationEffect.pm, _before_coding and
  _after_coding: "special case insertions just before the CDS start / just after the CDS end") calls them UTR
  variants, outside the CDS and its start and stop codons: 3_prime_UTR_variant or 5_prime_UTR_variant only, and
  the protein is unchanged;
- an insertion right before the stop codon is not in it (VEP's _overlaps_stop_codon): frameshift_variant or
  inframe_insertion only, with no stop_lost or stop_retained_variant, the protein changed;
- a partial codon after the stop codon split from it by an intron (the stop codon ends exon 2 and the partial
  codon is exon 3's first two bases; or one base of it ends exon 2 and the other starts exon 3): an SNV of the stop
  codon that keeps a stop is stop_retained_variant, one that reads through it stop_lost, one of a partial codon's
  base incomplete_terminal_codon_variant (VEP's stop_retained, stop_lost and partial_codon predicates), each with
  the codons translated here by Biopython.
Usage: test_variants_boundaries.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import os
import random
import subprocess

from Bio.Seq import Seq
from variants_synth import (Checker, arguments, contig_bases, edit_on, gff3, mirror, proteins, read_positions,
                            revcomp, sense_drawer, variant_rows, vcf_record, write_fa, write_vcf)

iso, work, data, MODEL = arguments("--rna-max-tokens", "512")
chk = Checker()
check = chk.check

rng = random.Random(7)
sense = sense_drawer(rng, ("ATG",))
L = 700
EXONS = [(40, 140), (240, 300), (400, 560)]  # introns [140, 240) and [300, 400): GT...AG


def contig(segs, read):
    """The plus-strand contig holding read on segs, its UTRs free of ATG and of stops in any frame."""
    s = contig_bases(rng, L, EXONS, segs, read)
    pos = read_positions(segs)
    for p in range(L):  # UTR bases: C only, so that no insertion next to the CDS makes a start or a stop
        if any(a <= p < b for a, b in EXONS) and p not in pos:
            s[p] = "C"
    return "".join(s)


# kind -> (cds segments, read): a CDS ending mid-exon 3; a stop codon ending exon 2 with a partial codon GC as exon
# 3's first two bases; a stop codon one base before exon 2's end, its partial codon G + C split by the intron
TX = {"mid": [(90, 140), (240, 300), (400, 431)], "split2": [(89, 140), (240, 300), (400, 402)],
      "split1": [(88, 140), (240, 300), (400, 401)]}
READ = {"mid": "ATG" + sense(45) + "TAA", "split2": "ATG" + sense(35) + "TAA" + "GC",
        "split1": "ATG" + sense(35) + "TAA" + "GC"}
assert all(sum(b - a for a, b in TX[k]) == len(READ[k]) for k in TX)
SEQ = {k: contig(TX[k], READ[k]) for k in TX}


def stop_snv(kind, i, want):
    """An SNV of the stop codon's base i (0-2, transcript order) after which Biopython reads want ('*' or not)."""
    pos = read_positions(TX[kind])
    at = pos[len(READ[kind]) - len(READ[kind]) % 3 - 3 + i]
    codon = READ[kind][len(READ[kind]) - len(READ[kind]) % 3 - 3:][:3]
    for b in "ACGT":
        new = codon[:i] + b + codon[i + 1:]
        if b != codon[i] and (str(Seq(new).translate()) == "*") == (want == "*"):
            return (at, at + 1, b), "stop_retained_variant" if want == "*" else "stop_lost"
    raise AssertionError(f"{kind}: no SNV at stop base {i}")


def tail_snv(kind, i):
    pos = read_positions(TX[kind])
    at = pos[len(READ[kind]) - len(READ[kind]) % 3 + i]
    return (at, at + 1, "A" if SEQ[kind][at] != "A" else "T"), "incomplete_terminal_codon_variant"


hi, lo = TX["mid"][-1][1], TX["mid"][0][0]
P = {  # (kind, allele) -> (edit on the plus strand: [start, end) 0-based, alt; the only term expected, the
    # protein unchanged or not)
    ("mid", "after_stop_ins1"): ((hi, hi, "C"), "3_prime_UTR_variant", True),
    ("mid", "after_stop_ins3"): ((hi, hi, "CGC"), "3_prime_UTR_variant", True),
    ("mid", "before_start_ins1"): ((lo, lo, "C"), "5_prime_UTR_variant", True),
    ("mid", "before_start_ins3"): ((lo, lo, "CGC"), "5_prime_UTR_variant", True),
    # right before the stop codon: not in it (VEP's _overlaps_stop_codon), so no stop_retained or stop_lost
    ("mid", "before_stop_ins1"): ((hi - 3, hi - 3, "C"), "frameshift_variant", False),
    ("mid", "before_stop_ins3"): ((hi - 3, hi - 3, "GCC"), "inframe_insertion", False),
}
for kind in ("split2", "split1"):
    P[kind, "stop_kept"] = stop_snv(kind, 2, "*") + (True,)
    P[kind, "stop_read_through"] = stop_snv(kind, 2, "Q") + (False,)
    P[kind, "tail0"] = tail_snv(kind, 0) + (True,)
    P[kind, "tail1"] = tail_snv(kind, 1) + (True,)


contigs = []  # (name, kind, strand, sequence, exons, cds)
for kind in TX:
    contigs.append((f"{kind}_plus", kind, "+", SEQ[kind], EXONS, TX[kind]))
    contigs.append((f"{kind}_minus", kind, "-", revcomp(SEQ[kind]), mirror(EXONS, L), mirror(TX[kind], L)))
write_fa(os.path.join(work, "genome.fa"), {c[0]: c[3] for c in contigs})
with open(os.path.join(work, "annotation.gff3"), "w") as f:
    f.write("##gff-version 3\n" + "".join("\n".join(gff3(c[0], c[2], c[4], c[5])) + "\n" for c in contigs))
records = [vcf_record(name, allele, sq, edit_on(strand, edit, L))
           for name, kind, strand, sq, _, _ in contigs for (k, allele), (edit, _, _) in P.items() if k == kind]
write_vcf(os.path.join(work, "alleles.vcf"), L, [c[0] for c in contigs], records)

# the reference proteins: the test's transcripts are what it means (the partial codon flagged, not read)
r = subprocess.run([iso, "extract", "-f", os.path.join(work, "genome.fa"), "-g", os.path.join(work, "annotation.gff3"),
                    "-o", os.path.join(work, "ref"), "--window", "10"], capture_output=True, text=True)
check(r.returncode == 0, f"extract exit {r.returncode}: {r.stderr[-2000:]}")
prot = proteins(os.path.join(work, "ref.protein.fa")) if r.returncode == 0 else {}
for name, kind, *_ in contigs:
    want = str(Seq(READ[kind][:len(READ[kind]) - len(READ[kind]) % 3]).translate(to_stop=True))
    check(prot.get("rna-" + name) == want, f"{name}: reference protein {prot.get('rna-' + name)}, expected {want}")

r = subprocess.run([iso, "variants", *MODEL, "--fasta", os.path.join(work, "genome.fa"), "--gtf",
                    os.path.join(work, "annotation.gff3"), "--vcf", os.path.join(work, "alleles.vcf"), "--out",
                    os.path.join(work, "v")], capture_output=True, text=True)
check(r.returncode == 0, f"variants exit {r.returncode}: {r.stderr[-2000:]}")
rows = variant_rows(os.path.join(work, "v.variants.tsv")) if r.returncode == 0 else {}
for name, kind, *_ in contigs:
    for (k, allele), (_, term, same) in sorted(P.items()):
        if k != kind:
            continue
        row = rows.get((name, allele))
        if not check(row is not None, f"{name} {allele}: no row in the TSV"):
            continue
        (s, e, _), _, _ = P[kind, allele]
        # VEP: an exon's 3 bases next to an intron are also its splice region
        near = s < e and any(s < a + 3 and e > a - 3 for a in (140, 240, 300, 400))
        want = {term} | ({"splice_region_variant"} if near else set())
        check(set(row["consequence"].split("&")) == want,
              f"{name} {allele}: consequence {row['consequence']}, expected {'&'.join(sorted(want))}")
        check(("protein" in row["changed"]) != same,
              f"{name} {allele}: changed {row['changed']}, the protein {'un' if same else ''}changed expected")

chk.finish(len(rows), "variants at CDS boundaries: all checks passed")
