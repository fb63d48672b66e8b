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
import csv
import os
import random
import shutil
import subprocess
import sys

from Bio.Seq import Seq

iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
MODEL = ["--model", f"{data}/demo-model", "--device", "cpu", "--threads", "2", "--rna-max-tokens", "512"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def revcomp(s):
    return s.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


rng = random.Random(7)
STOPS = ("TAA", "TAG", "TGA")
SENSE = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in STOPS + ("ATG",)]
L = 700
EXONS = [(40, 140), (240, 300), (400, 560)]  # introns [140, 240) and [300, 400): GT...AG


def sense(n):
    return "".join(rng.choice(SENSE) for _ in range(n))


def contig(segs, read):
    """The plus-strand contig holding read on segs, its UTRs free of ATG and of stops in any frame."""
    s = [rng.choice("ACGT") for _ in range(L)]
    for a, b in zip(EXONS, EXONS[1:]):
        s[a[1]:a[1] + 2], s[b[0] - 2:b[0]] = "GT", "AG"
    pos = [p for a, b in segs for p in range(a, b)]
    for k, p in enumerate(pos):
        s[p] = read[k]
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
    pos = [p for a, b in TX[kind] for p in range(a, b)]
    at = pos[len(READ[kind]) - len(READ[kind]) % 3 - 3 + i]
    codon = READ[kind][len(READ[kind]) - len(READ[kind]) % 3 - 3:][:3]
    for b in "ACGT":
        new = codon[:i] + b + codon[i + 1:]
        if b != codon[i] and (str(Seq(new).translate()) == "*") == (want == "*"):
            return (at, at + 1, b), "stop_retained_variant" if want == "*" else "stop_lost"
    raise AssertionError(f"{kind}: no SNV at stop base {i}")


def tail_snv(kind, i):
    pos = [p for a, b in TX[kind] for p in range(a, b)]
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


def mirror(segs):
    return sorted((L - e, L - s) for s, e in segs)


def gff3(name, strand, exons, cds):
    g, t = "gene-" + name, "rna-" + name
    lines = [f"{name}\tRefSeq\tgene\t{exons[0][0] + 1}\t{exons[-1][1]}\t.\t{strand}\t.\tID={g};"
             "gene_biotype=protein_coding",
             f"{name}\tRefSeq\tmRNA\t{exons[0][0] + 1}\t{exons[-1][1]}\t.\t{strand}\t.\tID={t};Parent={g}"]
    lines += [f"{name}\tRefSeq\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tParent={t}" for s, e in exons]
    done = 0
    for s, e in (cds if strand == "+" else cds[::-1]):
        lines.append(f"{name}\tRefSeq\tCDS\t{s + 1}\t{e}\t.\t{strand}\t{(3 - done % 3) % 3}\tID=cds-{name};"
                     f"Parent={t}")
        done += e - s
    return lines


contigs = []  # (name, kind, strand, sequence, exons, cds)
for kind in TX:
    contigs.append((f"{kind}_plus", kind, "+", SEQ[kind], EXONS, TX[kind]))
    contigs.append((f"{kind}_minus", kind, "-", revcomp(SEQ[kind]), mirror(EXONS), mirror(TX[kind])))
with open(os.path.join(work, "genome.fa"), "w") as f:
    f.write("".join(f">{c[0]}\n{c[3]}\n" for c in contigs))
with open(os.path.join(work, "annotation.gff3"), "w") as f:
    f.write("##gff-version 3\n" + "".join("\n".join(gff3(c[0], c[2], c[4], c[5])) + "\n" for c in contigs))
records = []
for name, kind, strand, sq, _, _ in contigs:
    for (k, allele), ((s, e, alt), _, _) in P.items():
        if k == kind:
            if strand == "-":
                s, e, alt = L - e, L - s, revcomp(alt)
            records.append((name, s + 1, allele, sq[s], alt) if e - s == 1 and len(alt) == 1 else
                           (name, s, allele, sq[s - 1:e], sq[s - 1] + alt))
names = [c[0] for c in contigs]
with open(os.path.join(work, "alleles.vcf"), "w") as f:
    f.write("##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID={n},length={L}>\n" for n in names))
    f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    for r in sorted(records, key=lambda r: (names.index(r[0]), r[1])):
        f.write("\t".join(map(str, r)) + "\t.\tPASS\t.\n")

# the reference proteins: the test's transcripts are what it means (the partial codon flagged, not read)
r = subprocess.run([iso, "extract", "-f", os.path.join(work, "genome.fa"), "-g", os.path.join(work, "annotation.gff3"),
                    "-o", os.path.join(work, "ref"), "--window", "10"], capture_output=True, text=True)
check(r.returncode == 0, f"extract exit {r.returncode}: {r.stderr[-2000:]}")
prot, name = {}, None
for line in open(os.path.join(work, "ref.protein.fa")) if r.returncode == 0 else []:
    if line.startswith(">"):
        name = line[1:].split()[0]
        prot[name] = ""
    else:
        prot[name] += line.strip()
for name, kind, *_ in contigs:
    want = str(Seq(READ[kind][:len(READ[kind]) - len(READ[kind]) % 3]).translate(to_stop=True))
    check(prot.get("rna-" + name) == want, f"{name}: reference protein {prot.get('rna-' + name)}, expected {want}")

r = subprocess.run([iso, "variants", *MODEL, "--fasta", os.path.join(work, "genome.fa"), "--gtf",
                    os.path.join(work, "annotation.gff3"), "--vcf", os.path.join(work, "alleles.vcf"), "--out",
                    os.path.join(work, "v")], capture_output=True, text=True)
check(r.returncode == 0, f"variants exit {r.returncode}: {r.stderr[-2000:]}")
rows = {}
if r.returncode == 0:
    with open(os.path.join(work, "v.variants.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["transcript_id"] == "rna-" + row["chrom"]:
                rows[row["chrom"], row["id"]] = row
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

print(f"{len(rows)} allele-transcript pairs")
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("variants at CDS boundaries: all checks passed")
