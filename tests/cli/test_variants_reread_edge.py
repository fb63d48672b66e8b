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


rng = random.Random(43)
STOPS = ("TAA", "TAG", "TGA")
SENSE = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in STOPS]
L = 900
EXONS = [(40, 140), (240, 300), (400, 860)]  # introns [140, 240) and [300, 400): GT...AG


def sense(n):
    return "".join(rng.choice(SENSE) for _ in range(n))


def read_positions(segs):
    return [p for s, e in segs for p in range(s, e)]


def contig(segs, read, utr_frame=0):
    """The plus-strand contig holding read on segs (a base read twice held once), sense codons in the 3' UTR's
    first utr_frame bases (in frame with the CDS) so that a lost stop reads on across the next junction."""
    s = [rng.choice("ACGT") for _ in range(L)]
    for a, b in zip(EXONS, EXONS[1:]):
        s[a[1]:a[1] + 2], s[b[0] - 2:b[0]] = "GT", "AG"
    pos = read_positions(segs)
    assert len(pos) == len(read)
    for k, p in enumerate(pos):
        assert k == 0 or pos[k - 1] != p or read[k - 1] == read[k], "a base read twice must be equal"
        s[p] = read[k]
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


def mapb(x, edit):
    """A boundary after the edit: bases inserted at x go after it (with the base that follows)."""
    s, e, alt = edit
    return x if x <= s else x + len(alt) - (e - s) if x >= e else s + min(x - s, len(alt))


def alt_transcript(strand, seq, exons, cds, edit, slip, sec):
    """Exons, CDS and Sec position on the edited contig (the CDS read again), and the protein of that CDS."""
    ex = [m for m in ((mapb(s, edit), mapb(e, edit)) for s, e in exons) if m[1] > m[0]]
    cd = [(mapb(s, edit), mapb(e, edit)) for s, e in cds]
    keep = [k for k in range(len(cd)) if cd[k][1] > cd[k][0]]
    order = keep if strand == "+" else keep[::-1]
    for a, b in zip(order, order[1:]):  # transcript order: the overlap of a slippage starts one base back
        if slip and len(keep) == len(cd) and cds[a][0] < cds[b][1] and cds[b][0] < cds[a][1]:
            cd[b] = (cd[a][1] - 1, cd[b][1]) if strand == "+" else (cd[b][0], cd[a][0] + 1)
    s_, e_, alt = edit
    sec_alt = None  # the Sec base kept as it was (not deleted nor replaced)
    if sec is not None and not (s_ <= sec < e_):
        sec_alt = mapb(sec, edit)
    comp = str.maketrans("ACGT", "TGCA")
    oriented = lambda p: seq[p] if strand == "+" else seq[p].translate(comp)
    pos = [p for k in order for p in (range(*cd[k]) if strand == "+" else range(cd[k][1] - 1, cd[k][0] - 1, -1))]
    rna_pos = [p for s, e in ex for p in range(s, e)][:: 1 if strand == "+" else -1]
    after = rna_pos[rna_pos.index(pos[-1]) + 1:]
    pos += after
    read = "".join(oriented(p) for p in pos)
    protein = ""
    if read[:3] == "ATG":
        for c in range(0, len(read) - 2, 3):
            aa = str(Seq(read[c:c + 3]).translate())
            if aa == "*" and sec_alt in pos[c:c + 3]:
                aa = "U"
            if aa == "*":
                break
            protein += aa
        protein = "M" + protein[1:]
    n = min(len(read), 3 * len(protein) + 3)  # bases read, the stop codon included
    merged = []
    for p in sorted(pos[:n]):  # the segments read, in genomic order (a base read twice starts a new one)
        if merged and merged[-1][1] == p:
            merged[-1] = (merged[-1][0], p + 1)
        else:
            merged.append((p, p + 1))
    # a slippage's segments overlap: rebuild them in transcript order, cutting where the reading goes back
    if slip:
        merged, last = [], None
        for p in pos[:n]:
            step = 1 if strand == "+" else -1
            if merged and last is not None and p == last + step:
                s, e = merged[-1]
                merged[-1] = (s, p + 1) if strand == "+" else (p, e)
            else:
                merged.append((p, p + 1))
            last = p
        merged.sort()
    sec_out = sec_alt if sec_alt is not None and sec_alt in pos[:n] else None
    return ex, merged, protein, sec_out


def gff3(name, strand, exons, cds, slip, sec):
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
    if sec is not None:
        lines.append(f"{name}\tRefSeq\tstop_codon_redefined_as_selenocysteine\t{sec + 1}\t{sec + 3}\t.\t{strand}\t."
                     f"\tParent={t}")
    return lines


def mirror(segs):
    return sorted((L - e, L - s) for s, e in segs)


def contigs():
    """(contig, kind, strand, sequence, exons, cds, sec) of the transcripts."""
    for kind, (sq, cds, slip, sec) in TX.items():
        yield f"{kind}_plus", kind, "+", sq, EXONS, cds, sec
        # on the minus strand the Sec codon's lowest base is the mirror of the plus codon's highest
        yield f"{kind}_minus", kind, "-", revcomp(sq), mirror(EXONS), mirror(cds), None if sec is None else L - sec - 3


def edit_on(strand, edit):
    s, e, alt = edit
    return edit if strand == "+" else (L - e, L - s, revcomp(alt))


def write_fa(path, seqs):
    with open(path, "w") as f:
        for n, s in seqs.items():
            f.write(f">{n}\n{s}\n")


names = [c[0] for c in contigs()]
write_fa(os.path.join(work, "genome.fa"), {c[0]: c[3] for c in contigs()})
with open(os.path.join(work, "annotation.gff3"), "w") as f:
    f.write("##gff-version 3\n")
    for name, kind, strand, sq, exons, cds, sec in contigs():
        f.write("\n".join(gff3(name, strand, exons, cds, TX[kind][2], sec)) + "\n")
records = []
for name, kind, strand, sq, exons, cds, sec in contigs():
    for (k, allele), (edit, _) in P.items():
        if k != kind:
            continue
        s, e, alt = edit_on(strand, edit)
        if e - s == 1 and len(alt) == 1:
            records.append((name, s + 1, allele, sq[s], alt))
        else:
            records.append((name, s, allele, sq[s - 1:e], sq[s - 1] + alt))
vcf = os.path.join(work, "alleles.vcf")
with open(vcf, "w") as f:
    f.write("##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID={n},length={L}>\n" for n in names))
    f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    for r in sorted(records, key=lambda r: (names.index(r[0]), r[1])):
        f.write("\t".join(map(str, r)) + "\t.\tPASS\t.\n")

# the reference proteins first: the test's GFF3 is what it means (Sec read as U on both strands)
run([iso, "extract", "-f", os.path.join(work, "genome.fa"), "-g", os.path.join(work, "annotation.gff3"), "-o",
     os.path.join(work, "ref"), "--window", "10"])


def proteins(path):
    got, name = {}, None
    for line in open(path) if os.path.exists(path) else []:
        if line.startswith(">"):
            name = line[1:].split()[0]
            got[name] = ""
        else:
            got[name] += line.strip()
    return got


ref = proteins(os.path.join(work, "ref.protein.fa"))
check(ref.get("rna-sec_plus") == ref.get("rna-sec_minus") and "U" in ref.get("rna-sec_plus", ""),
      f"the selenoprotein reads U on both strands: {ref.get('rna-sec_plus')} {ref.get('rna-sec_minus')}")

cache = os.path.join(work, "cache")
run([iso, "variants", *MODEL, "--fasta", os.path.join(work, "genome.fa"),
     "--gtf", os.path.join(work, "annotation.gff3"), "--vcf", vcf, "--cache", cache, "--out", os.path.join(work, "v")])
rows = {}
if os.path.exists(os.path.join(work, "v.variants.tsv")):
    with open(os.path.join(work, "v.variants.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["transcript_id"] == "rna-" + row["chrom"]:
                rows[row["chrom"], row["id"]] = row

for (kind, allele), (edit, term) in sorted(P.items()):
    d = os.path.join(work, f"{kind}.{allele}")
    os.makedirs(d)
    seqs, lines, want = {}, ["##gff-version 3"], {}
    for name, k, strand, sq, exons, cds, sec in contigs():
        if k != kind:
            continue
        s, e, alt = edit_on(strand, edit)
        seqs[name] = sq[:s] + alt + sq[e:]
        ex, cd, protein, sec2 = alt_transcript(strand, seqs[name], exons, cds, (s, e, alt), TX[kind][2], sec)
        lines += gff3(name, strand, ex, cd, TX[kind][2], sec2)
        want["rna-" + name] = protein
        row = rows.get((name, allele))
        if check(row is not None, f"{name} {allele}: no row in the TSV") and term:
            terms = row["consequence"].split("&")
            check(term in terms, f"{name} {allele}: consequence {row['consequence']}, expected {term}")
    check(want[f"rna-{kind}_plus"] == want[f"rna-{kind}_minus"], f"{kind} {allele}: the test's strands differ")
    write_fa(os.path.join(d, "genome.fa"), seqs)
    with open(os.path.join(d, "annotation.gff3"), "w") as f:
        f.write("\n".join(lines) + "\n")
    run([iso, "extract", "-f", os.path.join(d, "genome.fa"), "-g", os.path.join(d, "annotation.gff3"), "-o",
         os.path.join(d, "x"), "--window", "10"])
    got = proteins(os.path.join(d, "x.protein.fa"))
    check(got == want, f"{kind} {allele}: the test's GFF3 translates to {got}, Biopython {want}")
    r = run([iso, "predict", *MODEL, "--fasta", os.path.join(d, "genome.fa"),
             "--gtf", os.path.join(d, "annotation.gff3"), "--cache", cache, "-v", "--out", os.path.join(d, "p")])
    m = [re.search(p, r.stderr) for p in (r"(\d+) transcripts in", r"DNA windows: (\d+) computed",
                                          r"proteins: (\d+) computed", r"cache hits (\d+)")]
    if check(all(m), f"{kind} {allele}: predict -v statistics not found in: {r.stderr[-1000:]}"):
        n_tx, windows, proteins_, hits = (int(x.group(1)) for x in m)
        check(windows + n_tx + proteins_ - hits == 0,
              f"{kind} {allele}: predict computed {windows + n_tx + proteins_ - hits} encoder inputs variants did "
              f"not (variants read another protein than {want})")

print(f"{len(P) * 2} allele-transcript pairs")
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("variants re-read edge cases: all checks passed")
