"""What the synthetic-contig tests of isoformer variants share (test_variants_reread.py,
test_variants_reread_edge.py, test_variants_boundaries.py): the checks and runs, codons and contigs, the alleles'
SNVs and shifted boundaries, the alternative transcript read again, and the FASTA, GFF3 and VCF written.
Nothing here holds a script's state: each passes its own rng, contig length, exons and Checker."""
import csv
import os
import re
import shutil
import subprocess
import sys

from Bio.Seq import Seq

STOPS = ("TAA", "TAG", "TGA")


def arguments(*model_options):
    """ISOFORMER WORKDIR TEST_DATA from the command line, WORKDIR made anew, and the demo model's options on cpu."""
    iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    return iso, work, data, ["--model", f"{data}/demo-model", "--device", "cpu", "--threads", "2", *model_options]


class Checker:
    """The failures of one script, and commands run under a check of their exit status."""

    def __init__(self):
        self.failures = []

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL:", what)
        return cond

    def run(self, cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.check(r.returncode == 0, f"{' '.join(cmd[:2])} exit {r.returncode}: {r.stderr[-2000:]}")
        return r

    def finish(self, pairs, passed):
        print(f"{pairs} allele-transcript pairs")
        if self.failures:
            print(f"{len(self.failures)} failure(s)")
            sys.exit(1)
        print(passed)


def revcomp(s):
    return s.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


def sense_codons(excluded=()):
    """The codons other than the stops (and excluded), in ACGT order."""
    return [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in STOPS + tuple(excluded)]


def sense_drawer(rng, excluded=()):
    """sense(n): n sense codons (none of excluded) drawn from the script's own rng."""
    codons = sense_codons(excluded)
    return lambda n: "".join(rng.choice(codons) for _ in range(n))


def read_positions(segs):
    return [p for s, e in segs for p in range(s, e)]


def mirror(segs, length):
    return sorted((length - e, length - s) for s, e in segs)


def edit_on(strand, edit, length):
    """An edit given on the plus strand, on the contig of that strand (the minus one its reverse complement)."""
    s, e, alt = edit
    return edit if strand == "+" else (length - e, length - s, revcomp(alt))


def contig_bases(rng, length, exons, segs, read):
    """The plus-strand contig's bases (a list): random, GT...AG around each intron, read on segs (a base read twice
    held once)."""
    s = [rng.choice("ACGT") for _ in range(length)]
    for a, b in zip(exons, exons[1:]):
        s[a[1]:a[1] + 2], s[b[0] - 2:b[0]] = "GT", "AG"
    pos = read_positions(segs)
    assert len(pos) == len(read)
    for k, p in enumerate(pos):
        assert k == 0 or pos[k - 1] != p or read[k - 1] == read[k], "a base read twice must be equal"
        s[p] = read[k]
    return s


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


def mapb(x, edit):
    """A boundary after the edit: bases inserted at x go after it (with the base that follows)."""
    s, e, alt = edit
    return x if x <= s else x + len(alt) - (e - s) if x >= e else s + min(x - s, len(alt))


def alt_transcript(strand, seq, exons, cds, edit, slip, sec=None):
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


def apply_edit(strand, seq, exons, cds, edit, length, slip, sec=None):
    """An edit given on the plus strand applied to a contig of that strand: the edited sequence, then
    alt_transcript's exons, CDS, protein and Sec position on it."""
    s, e, alt = edit_on(strand, edit, length)
    edited = seq[:s] + alt + seq[e:]
    return (edited, *alt_transcript(strand, edited, exons, cds, (s, e, alt), slip, sec))


def gff3(name, strand, exons, cds, slip=False, sec=None):
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


def write_fa(path, seqs):
    with open(path, "w") as f:
        for n, s in seqs.items():
            f.write(f">{n}\n{s}\n")


def vcf_record(name, allele, seq, edit):
    """The VCF record of an edit on a contig: an SNV as is, anything else anchored on the base before it."""
    s, e, alt = edit
    if e - s == 1 and len(alt) == 1:
        return (name, s + 1, allele, seq[s], alt)
    return (name, s, allele, seq[s - 1:e], seq[s - 1] + alt)


def write_vcf(path, length, names, records):
    with open(path, "w") as f:
        f.write("##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID={n},length={length}>\n" for n in names))
        f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for r in sorted(records, key=lambda r: (names.index(r[0]), r[1])):
            f.write("\t".join(map(str, r)) + "\t.\tPASS\t.\n")


def variant_rows(path):
    """The rows of a variants TSV on each contig's own transcript, by (contig, allele id)."""
    rows = {}
    if os.path.exists(path):
        with open(path) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["transcript_id"] == "rna-" + row["chrom"]:
                    rows[row["chrom"], row["id"]] = row
    return rows


def proteins(path):
    got, name = {}, None
    for line in open(path) if os.path.exists(path) else []:
        if line.startswith(">"):
            name = line[1:].split()[0]
            got[name] = ""
        else:
            got[name] += line.strip()
    return got


def run_variants(chk, iso, model, work, vcf, cache):
    """`isoformer variants` on work's genome.fa and annotation.gff3 filling cache; the rows of its TSV."""
    chk.run([iso, "variants", *model, "--fasta", os.path.join(work, "genome.fa"),
             "--gtf", os.path.join(work, "annotation.gff3"), "--vcf", vcf, "--cache", cache, "--out",
             os.path.join(work, "v")])
    return variant_rows(os.path.join(work, "v.variants.tsv"))


def check_reread(chk, iso, model, d, cache, label, seqs, lines, want):
    """The edited genome written in a new d (seqs, GFF3 lines): `isoformer extract` on its GFF3 gives want, and
    `isoformer predict` with the cache that `variants` filled computes no encoder input of its own."""
    os.makedirs(d)
    write_fa(os.path.join(d, "genome.fa"), seqs)
    with open(os.path.join(d, "annotation.gff3"), "w") as f:
        f.write("\n".join(lines) + "\n")
    chk.run([iso, "extract", "-f", os.path.join(d, "genome.fa"), "-g", os.path.join(d, "annotation.gff3"), "-o",
             os.path.join(d, "x"), "--window", "10"])
    got = proteins(os.path.join(d, "x.protein.fa"))
    chk.check(got == want, f"{label}: the test's GFF3 translates to {got}, Biopython {want}")
    r = chk.run([iso, "predict", *model, "--fasta", os.path.join(d, "genome.fa"),
                 "--gtf", os.path.join(d, "annotation.gff3"), "--cache", cache, "-v", "--out", os.path.join(d, "p")])
    m = [re.search(p, r.stderr) for p in (r"(\d+) transcripts in", r"DNA windows: (\d+) computed",
                                          r"proteins: (\d+) computed", r"cache hits (\d+)")]
    if chk.check(all(m), f"{label}: predict -v statistics not found in: {r.stderr[-1000:]}"):
        n_tx, windows, proteins_, hits = (int(x.group(1)) for x in m)
        chk.check(windows + n_tx + proteins_ - hits == 0,
                  f"{label}: predict computed {windows + n_tx + proteins_ - hits} encoder inputs variants did not "
                  f"(variants read another protein than {want})")
