"""isoformer variants against independent tools, on the real BCAS1 isoforms (minus strand) and their mirror
image on the reverse complement of the genome (plus strand):

- every allele's alternative prediction equals `isoformer predict` run on the FASTA edited by `bcftools
  consensus` with the annotation shifted to follow the edit (and its CDS read again to the next stop where the
  coding sequence changed): the encoder inputs are the same (predict, given the cache variants filled, computes
  nothing: every window, RNA and protein it needs is already there) and so are the values; over SNVs,
  insertions and deletions in the promoter, UTRs, introns and CDS (missense, synonymous, stop gained and lost,
  start lost, frameshifts, inframe deletions);
- a phased sample's haplotype equals predict on the FASTA with exactly that haplotype's alleles applied;
- consequence classes agree with `bcftools csq` (on an Ensembl-style GFF3 of the same annotation) on a few
  hundred seeded random records around the exons;
- records that cannot be scored get their note, the outputs are a bgzipped indexed VCF bcftools queries by
  region, a TSV and an SVG, shards concatenate to the unsharded run and --gather writes it from them;
- reusing the reference embeddings gives the values of two full predictions per allele (--no-reuse);
- the real vt-examples records committed in test-data/ match the FASTA and are scored with the full window;
- a ribosomal slippage and a partial codon after the stop codon are read again (test_variants_reread.py).
Usage: test_variants.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import bisect
import collections
import csv
import gzip
import os
import random
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []
# RNAs cut to 512 tokens (as both variants and predict then read them) keep the sanitizer build's run short.
MODEL = ["--model", f"{data}/demo-model", "--device", "cpu", "--threads", "2", "--rna-max-tokens", "512"]
COMP = str.maketrans("ACGTN", "TGCAN")


T0 = time.time()


def section(name):
    print(f"[{time.time() - T0:6.1f} s] {name}", flush=True)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def run(cmd, ok=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if ok:
        check(r.returncode == 0, f"{' '.join(cmd[:2])} exit {r.returncode}: {r.stderr[-2000:]}")
    return r


def revcomp(s):
    return s.translate(COMP)[::-1]


def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def write_fasta(path, seqs):
    with open(path, "w") as f:
        for name, s in seqs.items():
            f.write(f">{name}\n")
            for i in range(0, len(s), 60):
                f.write(s[i:i + 60] + "\n")


def codon_table():
    b, aa = "TCAG", "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
    return {b[i // 16] + b[i // 4 % 4] + b[i % 4]: aa[i] for i in range(64)}


CODE = codon_table()

# ---- the two-strand genome and annotation ----
genome = {"20": "".join(l.strip().upper() for l in gzip.open(f"{data}/genome.fa.gz", "rt") if not l.startswith(">"))}
L = len(genome["20"])
genome["20rc"] = revcomp(genome["20"])
fasta = os.path.join(work, "genome.fa")
write_fasta(fasta, genome)


class Tx:
    """A transcript with 0-based half-open exons and CDS (stop codon included), sorted by start."""

    def __init__(self, tid, gene, chrom, strand, exons, cds):
        self.id, self.gene, self.chrom, self.strand, self.exons, self.cds = tid, gene, chrom, strand, exons, cds

    def mirror(self):
        m = lambda segs: sorted((L - e, L - s) for s, e in segs)
        return Tx(self.id + "_rc", self.gene + "_rc", "20rc", "+" if self.strand == "-" else "-", m(self.exons),
                  m(self.cds))

    def gtf(self):
        lines, done = [], 0
        attrs = f'gene_id "{self.gene}"; transcript_id "{self.id}"; gene_name "BCAS1";'
        for s, e in self.exons:
            lines.append([self.chrom, "t", "exon", s + 1, e, ".", self.strand, ".", attrs])
        for s, e in (self.cds if self.strand == "+" else self.cds[::-1]):
            lines.append([self.chrom, "t", "CDS", s + 1, e, ".", self.strand, (3 - done % 3) % 3, attrs])
            done += e - s
        return ["\t".join(map(str, x)) for x in lines]


def read_annotation():
    txs = collections.OrderedDict()
    for line in open(f"{data}/annotation.gtf"):
        if line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        tid = re.search(r'transcript_id "([^"]+)"', f[8]).group(1)
        gene = re.search(r'gene_id "([^"]+)"', f[8]).group(1)
        t = txs.setdefault(tid, Tx(tid, gene, "20", f[6], [], []))
        if f[2] == "exon":
            t.exons.append((int(f[3]) - 1, int(f[4])))
        elif f[2] in ("CDS", "stop_codon"):
            t.cds.append((int(f[3]) - 1, int(f[4])))
    for t in txs.values():
        t.exons.sort()
        merged = []
        for s, e in sorted(t.cds):  # the stop codon joins its CDS segment
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        t.cds = merged
    return list(txs.values())


minus = read_annotation()
TXS = minus + [t.mirror() for t in minus]
gtf = os.path.join(work, "annotation.gtf")
with open(gtf, "w") as f:
    for t in TXS:
        f.write("\n".join(t.gtf()) + "\n")


def spliced(seq, t, segs):
    s = "".join(seq[a:b] for a, b in segs)
    return s if t.strand == "+" else revcomp(s)


def offsets(t):
    """Genomic position of each base of the spliced transcript, 5'->3'."""
    pos = [p for a, b in t.exons for p in range(a, b)]
    return pos if t.strand == "+" else pos[::-1]


# ---- the edited genome and annotation, written independently of the tool ----

def shift(x, edits):
    """A feature boundary after the edits (the test's edits never put a boundary strictly inside a deletion)."""
    d = 0
    for s, e, alt in edits:
        if x > s:
            check(x >= e, f"boundary {x} inside edit {s}-{e}")
            d += len(alt) - (e - s)
    return x + d


def edited_transcript(t, seq, edits):
    """t on the edited sequence seq: shifted, and its CDS read again to the next stop when the edits change it."""
    ex = [(shift(s, edits), shift(e, edits)) for s, e in t.exons]
    ex = [(s, e) for s, e in ex if e > s]
    cds = [(shift(s, edits), shift(e, edits)) for s, e in t.cds]
    a = Tx(t.id, t.gene, t.chrom, t.strand, ex, [(s, e) for s, e in cds if e > s])
    touched = any(s < ce and (e > cs if e > s else s >= cs) for s, e, _ in edits for cs, ce in t.cds)
    if not t.cds or not touched:
        return a
    pos = offsets(a)
    rna = spliced(seq, a, a.exons)
    five = a.cds[0][0] if a.strand == "+" else a.cds[-1][1] - 1
    start = pos.index(five)
    if rna[start:start + 3] != "ATG":  # start lost: no CDS
        a.cds = []
        return a
    end = start
    while end + 3 <= len(rna):
        end += 3
        if CODE[rna[end - 3:end]] == "*":
            break
    covered = sorted(pos[start:end])
    segs = []
    for p in covered:
        if segs and p == segs[-1][1]:
            segs[-1][1] += 1
        else:
            segs.append([p, p + 1])
    a.cds = [tuple(x) for x in segs]
    return a


def vcf_record(chrom, s, e, alt, vid):
    seq = genome[chrom]
    if e - s == 1 and len(alt) == 1:
        return (chrom, s + 1, vid, seq[s], alt)
    return (chrom, s, vid, seq[s - 1:e], seq[s - 1] + alt)  # VCF's anchor base before an indel


def write_vcf(path, records, samples=(), genotypes=None):
    with open(path, "w") as f:
        f.write("##fileformat=VCFv4.2\n")
        for c in ("20", "20rc"):
            f.write(f"##contig=<ID={c},length={L}>\n")
        if samples:
            f.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO" + ("\tFORMAT\t" + "\t".join(samples) if samples else "") + "\n")
        for i, r in enumerate(records):
            gts = "\tGT\t" + "\t".join(genotypes[i]) if samples else ""
            f.write("\t".join(map(str, r)) + "\t.\tPASS\t." + gts + "\n")
    run(["bgzip", "-f", path])
    run(["tabix", "-f", "-p", "vcf", path + ".gz"])
    return path + ".gz"


def consensus(vcf_gz, out):
    r = run(["bcftools", "consensus", "-f", fasta, vcf_gz])
    with open(out, "w") as f:
        f.write(r.stdout)
    seqs, name = {}, None
    for line in r.stdout.splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = []
        else:
            seqs[name].append(line.strip().upper())
    return {k: "".join(v) for k, v in seqs.items()}


def predict_edited(tag, chrom, edits, ids, cache, extra=()):
    """predict on the genome with the edits applied (bcftools consensus) and the annotation following them;
    returns {transcript: values} and the number of encoder inputs predict did not find in the cache."""
    d = os.path.join(work, "edited", tag)
    os.makedirs(d, exist_ok=True)
    recs = [vcf_record(chrom, s, e, alt, f"e{i}") for i, (s, e, alt) in enumerate(sorted(edits))]
    seqs = consensus(write_vcf(os.path.join(d, "edits.vcf"), recs), os.path.join(d, "genome.fa"))
    check(seqs[chrom] == edited_string(chrom, edits), f"{tag}: bcftools consensus and the test's own edit differ")
    with open(os.path.join(d, "annotation.gtf"), "w") as f:
        for t in TXS:
            if t.id in ids:
                f.write("\n".join(edited_transcript(t, seqs[t.chrom], edits if t.chrom == chrom else []).gtf()) + "\n")
    r = run([iso, "predict", *MODEL, "--fasta", os.path.join(d, "genome.fa"), "--gtf", os.path.join(d, "annotation.gtf"),
             "--cache", cache, "-v", "--out", os.path.join(d, "p"), *extra])
    rows = read_tsv(os.path.join(d, "p.predictions.tsv")) if r.returncode == 0 else []
    m = [re.search(p, r.stderr) for p in (r"(\d+) transcripts in", r"DNA windows: (\d+) computed",
                                          r"proteins: (\d+) computed", r"cache hits (\d+)")]
    misses = None
    if check(all(m), f"{tag}: predict -v statistics not found in: {r.stderr}"):
        n_tx, windows, proteins, hits = (int(x.group(1)) for x in m)
        misses = windows + n_tx + proteins - hits
    return {row["transcript_id"]: row for row in rows}, misses


def edited_string(chrom, edits):
    s = genome[chrom]
    for a, b, alt in sorted(edits, reverse=True):
        s = s[:a] + alt + s[b:]
    return s


# ---- 1. every allele against predict on the edited genome ----
section('every allele against predict on the edited genome')
T = next(t for t in minus if t.id == "uc002xws.2")
tss = T.exons[-1][1] - 1  # minus strand: the last exon's end
cds_pos = offsets(T)
cds_rna = spliced(genome["20"], T, T.exons)
cds_start = cds_pos.index(T.cds[-1][1] - 1)


def cds_base(k):
    """Genomic position of CDS base k (0-based, transcript orientation) and the base on the transcript strand."""
    return cds_pos[cds_start + k], cds_rna[cds_start + k]


def snv_at_cds(k, want):
    """An SNV at CDS base k whose new codon satisfies want(ref_aa, alt_aa)."""
    for kk in range(k, k + 300):
        p, b = cds_base(kk)
        codon_start = cds_start + kk - kk % 3
        codon = cds_rna[codon_start:codon_start + 3]
        for nb in "ACGT":
            if nb == b:
                continue
            new = codon[:kk % 3] + nb + codon[kk % 3 + 1:]
            if want(CODE[codon], CODE[new]):
                return (p, p + 1, revcomp(nb))  # minus strand: the genome carries the complement
    raise AssertionError("no SNV found")


def free_of_boundaries(s, e):
    return not any(s < x < e or (s == e and x == s) for t in TXS for seg in (t.exons, t.cds) for a, b in seg
                   for x in (a, b))


rng = random.Random(15)


def randseq(n):
    return "".join(rng.choice("ACGT") for _ in range(n))


stop_k = len([1 for p in cds_pos[cds_start:] if any(a <= p < b for a, b in T.cds)]) - 3
KINDS = {
    "promoter_snv": (tss + 301, tss + 302, "A" if genome["20"][tss + 301] != "A" else "C"),
    "promoter_del": (tss + 500, tss + 520, ""),
    "promoter_ins": (tss + 700, tss + 700, randseq(12)),
    "utr5_snv": (tss - 101, tss - 100, "T" if genome["20"][tss - 101] != "T" else "G"),
    "utr5_ins": (tss - 150, tss - 150, randseq(5)),
    "intron_del": (T.exons[-1][0] - 630, T.exons[-1][0] - 600, ""),
    "missense": snv_at_cds(301, lambda a, b: a != b and "*" not in (a, b)),
    "synonymous": snv_at_cds(452, lambda a, b: a == b and a != "*"),
    "stop_gained": snv_at_cds(600, lambda a, b: b == "*" and a != "*"),
    "frameshift_del": (cds_base(700)[0], cds_base(700)[0] + 1, ""),
    "frameshift_ins": (cds_base(800)[0], cds_base(800)[0], "GA"),
    "inframe_del": (cds_base(903)[0] - 2, cds_base(903)[0] + 1, ""),
    "stop_lost": snv_at_cds(stop_k, lambda a, b: a == "*" and b != "*"),
    "start_lost": snv_at_cds(0, lambda a, b: a == "M" and b != "M"),
    "utr3_del": (T.exons[0][0] + 200, T.exons[0][0] + 204, ""),
}
for k, (s, e, alt) in KINDS.items():
    check(free_of_boundaries(s, e), f"test design: {k} at {s}-{e} touches an annotation boundary")
edits = {}
for k, (s, e, alt) in KINDS.items():
    edits[(k, "20")] = (s, e, alt)
    edits[(k, "20rc")] = (L - e, L - s, revcomp(alt))
records = sorted((vcf_record(c, s, e, alt, k) + ((k, c),)) for (k, c), (s, e, alt) in edits.items())
key_of = {(r[0], str(r[1]), r[3], r[4]): r[5] for r in records}
vcf = write_vcf(os.path.join(work, "kinds.vcf"), [r[:5] for r in records])
cache = os.path.join(work, "cache")
prefix = os.path.join(work, "kinds")
r = run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", vcf, "--cache", cache, "-v",
         "--out", prefix])
rows = read_tsv(prefix + ".variants.tsv") if r.returncode == 0 else []
tissues = [c[len("alt "):] for c in (rows[0].keys() if rows else []) if c.startswith("alt ")]
check(len(tissues) == 30, f"30 tissue columns, got {len(tissues)}")
by_edit = collections.defaultdict(list)
for row in rows:
    by_edit[key_of[(row["chrom"], row["pos"], row["ref"], row["alt"])]].append(row)
check(set(by_edit) == set(edits), f"every test allele has rows: missing {set(edits) - set(by_edit)}")
seen = collections.Counter()
for (kind, chrom), pairs in sorted(by_edit.items()):
    ids = {p["transcript_id"] for p in pairs}
    pred, misses = predict_edited(f"{kind}.{chrom}", chrom, [edits[(kind, chrom)]], ids, cache)
    check(misses == 0, f"{kind} on {chrom}: predict on the edited genome needed {misses} encoder inputs that "
                       "variants never computed (the alternative inputs differ)")
    for p in pairs:
        got = pred.get(p["transcript_id"])
        if not check(got is not None, f"{kind} on {chrom}: predict has no row for {p['transcript_id']}"):
            continue
        for t in tissues:
            a, b = float(p["alt " + t]), float(got[t])
            if not check(abs(a - b) <= 1e-6 * max(1.0, abs(b)),
                         f"{kind} on {chrom}, {p['transcript_id']}, {t}: alt {a} vs predict {b}"):
                break
        seen[p["changed"]] += 1
    terms = {c for p in pairs for c in p["consequence"].split("&")}
    expect = {"promoter_snv": "upstream_gene_variant", "utr5_ins": "5_prime_UTR_variant", "missense": "missense_variant",
              "synonymous": "synonymous_variant", "stop_gained": "stop_gained", "frameshift_del": "frameshift_variant",
              "frameshift_ins": "frameshift_variant", "inframe_del": "inframe_deletion", "stop_lost": "stop_lost",
              "start_lost": "start_lost", "intron_del": "intron_variant", "utr3_del": "3_prime_UTR_variant"}.get(kind)
    check(not expect or expect in terms, f"{kind} on {chrom}: consequences {terms} lack {expect}")
    if kind in ("missense", "stop_gained", "frameshift_del", "start_lost"):
        check(any(float(p["max_abs_delta"]) > 1e-4 for p in pairs if p["max_abs_delta"] != "NA"),
              f"{kind} on {chrom}: no visible effect, the protein path is not exercised")
check({"dna", "rna", "rna&protein", "dna&rna", "none"} <= set(seen),
      f"the test reaches every combination of changed inputs: {dict(seen)}")
for needle in ("DNA", "RNA", "protein", r"fusion\+head"):
    check(re.search(needle + r" \d+", r.stderr), f"-v statistics name {needle}: {r.stderr}")

# the gene's windows (predict --window-center gene): the gene's 5' end moves with a promoter indel
gene_kinds = ["promoter_del", "promoter_ins", "utr5_ins", "missense"]
gvcf = write_vcf(os.path.join(work, "gene_windows.vcf"), sorted(vcf_record("20", *edits[(k, "20")], k) for k in gene_kinds))
gprefix = os.path.join(work, "gene_windows")
run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", gvcf, "--cache", cache, "--window-center", "gene",
     "--out", gprefix])
grows = read_tsv(gprefix + ".variants.tsv")
for kind in gene_kinds:
    pairs = [p for p in grows if p["id"] == kind]
    pred, misses = predict_edited(f"gene.{kind}", "20", [edits[(kind, "20")]], {p["transcript_id"] for p in pairs}, cache,
                                  ["--window-center", "gene"])
    check(pairs and misses == 0, f"{kind}, gene windows: {len(pairs)} pairs, {misses} inputs predict computed itself")
    for p in pairs:
        got = pred.get(p["transcript_id"], {})
        check(all(abs(float(p["alt " + t]) - float(got.get(t, "nan"))) <= 1e-6 * max(1.0, abs(float(got.get(t, 0))))
                  for t in tissues), f"{kind}, gene windows, {p['transcript_id']}: alt values differ from predict")
check(any("dna" in p["changed"] for p in grows if p["id"] == "promoter_del" and p["transcript_id"] == "uc010gim.2"),
      "with gene windows a promoter allele reaches the isoforms that start downstream")

# ---- 2. a phased sample's haplotypes against predict on exactly its alleles ----
section("a phased sample's haplotypes against predict on exactly its alleles")
hap_kinds = ["promoter_snv", "utr5_ins", "missense", "intron_del", "frameshift_ins", "utr3_del"]
samples = ["S1", "S2"]
gts = {"promoter_snv": ["1|0", "1|1"], "utr5_ins": ["0|1", "0/1"], "missense": ["1|1", "0|0"],
       "intron_del": ["1|0", "./."], "frameshift_ins": ["0|0", "1|0"], "utr3_del": ["0|1", "0|1"]}
hrecs = sorted((vcf_record("20", *edits[(k, "20")], k), k) for k in hap_kinds)
hvcf = write_vcf(os.path.join(work, "haplotypes.vcf"), [x[0] for x in hrecs], samples, [gts[x[1]] for x in hrecs])
hprefix = os.path.join(work, "hap")
r = run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", hvcf, "--haplotypes", "--cache", cache,
         "--out", hprefix])
check("genotypes not applied" in r.stderr, f"skipped genotypes are counted on stderr: {r.stderr}")
hrows = read_tsv(hprefix + ".haplotypes.tsv") if r.returncode == 0 else []
check(len(hrows) == len(TXS) * 4, f"a row per transcript, sample and haplotype: {len(hrows)}")
for si, sample in enumerate(samples):
    for h in (0, 1):
        applied = []
        for k in hap_kinds:
            g = gts[k][si]
            if "|" in g and g.split("|")[h] == "1" or g == "1/1":
                applied.append(edits[(k, "20")])
        mine = {row["transcript_id"]: row for row in hrows if row["sample"] == sample and row["haplotype"] == str(h + 1)}
        ids = {t.id for t in TXS if t.chrom == "20"}
        pred, misses = predict_edited(f"hap.{sample}.{h}", "20", applied, ids, cache)
        check(misses == 0, f"{sample} haplotype {h + 1}: {misses} encoder inputs predict computed itself")
        for tid in ids:
            for t in tissues:
                a, b = float(mine[tid][t]), float(pred[tid][t])
                if not check(abs(a - b) <= 1e-6 * max(1.0, abs(b)), f"{sample}:{h + 1} {tid} {t}: {a} vs {b}"):
                    break
        # every allele reaches uc002xws.2: S2's unphased 0/1 and missing ./. are not applied, and counted
        row = mine["uc002xws.2"]
        check((row["n_applied"], row["n_skipped"]) == (str(len(applied)), "2" if sample == "S2" else "0"),
              f"{sample}:{h + 1} applied/skipped {row['n_applied']}/{row['n_skipped']}")

# haploid calls, half-missing and multi-allelic phased genotypes, and an SNV on the base right after an insertion
# on the same haplotype (the two do not overlap: bcftools consensus applies both), against `bcftools consensus -s
# SAMPLE -H N` on this VCF itself
ins_at = edits[("utr5_ins", "20")][0]
edits2 = {k: edits[(k, "20")] for k in ("promoter_snv", "utr5_ins", "missense", "intron_del", "utr3_del")}
edits2["after_ins"] = (ins_at, ins_at + 1, "A" if genome["20"][ins_at] != "A" else "C")
m_s, m_e, m_alt = edits[("missense", "20")]
second = next(b for b in "ACGT" if b not in (genome["20"][m_s], m_alt))
samples2 = ["HAPLOID", "HALF", "MULTI", "INSNV"]
gts2 = {"promoter_snv": ["1", ".|1", "0|0", "0|1"], "utr5_ins": ["1", "0|0", "0|0", "1|0"],
        "after_ins": ["0", "0|0", "0|0", "1|0"], "missense": ["0", "1|.", "2|1", "0|0"],
        "intron_del": ["1", "0|0", "0|0", "0|1"], "utr3_del": ["0", "0|1", "1|0", "0|0"]}
recs2 = []
for k in gts2:
    rec = vcf_record("20", *edits2[k], k)
    recs2.append((rec[:4] + (rec[4] + "," + second,) if k == "missense" else rec, gts2[k]))
recs2.sort()
hvcf2 = write_vcf(os.path.join(work, "haplotypes2.vcf"), [x[0] for x in recs2], samples2, [x[1] for x in recs2])
hprefix2 = os.path.join(work, "hap2")
r = run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", hvcf2, "--haplotypes", "--cache", cache,
         "--out", hprefix2])
hrows2 = read_tsv(hprefix2 + ".haplotypes.tsv") if r.returncode == 0 else []
ids = {t.id for t in TXS if t.chrom == "20"}
for si, sample in enumerate(samples2):
    for h in (0, 1):
        applied, skipped = [], 0
        for rec, g in recs2:
            g = g[si]
            al = g.split("|") if "|" in g else [g, g]  # a haploid call is on both haplotypes
            if al[h] == ".":
                skipped += 1
            elif al[h] != "0":
                s_, e_, alt = edits2[rec[2]]
                applied.append((s_, e_, alt if al[h] == "1" else second))
        # bcftools consensus -H 2 leaves a haploid call out: its one allele is -H 1's
        c = run(["bcftools", "consensus", "-f", fasta, "-s", sample, "-H", "1" if sample == "HAPLOID" else str(h + 1),
                 hvcf2])
        got = "".join(l.strip().upper() for l in c.stdout.split(">20rc")[0].splitlines()[1:])
        check(got == edited_string("20", applied), f"{sample}:{h + 1}: bcftools consensus and the test's alleles differ")
        pred, _ = predict_edited(f"hap2.{sample}.{h}", "20", applied, ids, cache)
        mine = {row["transcript_id"]: row for row in hrows2 if row["sample"] == sample and row["haplotype"] == str(h + 1)}
        for tid in sorted(ids):
            row = mine.get(tid)
            if not check(row is not None, f"{sample}:{h + 1} {tid}: no row"):
                continue
            for t in tissues:
                a, b = float(row[t]), float(pred[tid][t])
                if not check(abs(a - b) <= 1e-6 * max(1.0, abs(b)), f"{sample}:{h + 1} {tid} {t}: {a} vs {b}"):
                    break
        row = mine.get("uc002xws.2", {})
        check((row.get("n_applied"), row.get("n_skipped")) == (str(len(applied)), str(skipped)),
              f"{sample}:{h + 1} applied/skipped {row.get('n_applied')}/{row.get('n_skipped')}, "
              f"want {len(applied)}/{skipped}")

# ---- 3. consequences against bcftools csq ----
section('consequences against bcftools csq')
gff = os.path.join(work, "annotation.gff3")
with open(gff, "w") as f:
    f.write("##gff-version 3\n")
    for gene in ("8537", "8537_rc"):
        mine = [t for t in TXS if t.gene == gene]
        c, st = mine[0].chrom, mine[0].strand
        f.write(f"{c}\tt\tgene\t{min(t.exons[0][0] for t in mine) + 1}\t{max(t.exons[-1][1] for t in mine)}\t.\t{st}\t.\t"
                f"ID=gene:{gene};biotype=protein_coding;Name=BCAS1\n")
        for t in mine:
            f.write(f"{c}\tt\ttranscript\t{t.exons[0][0] + 1}\t{t.exons[-1][1]}\t.\t{st}\t.\tID=transcript:{t.id};"
                    f"Parent=gene:{gene};biotype=protein_coding\n")
            for s, e in t.exons:
                f.write(f"{c}\tt\texon\t{s + 1}\t{e}\t.\t{st}\t.\tParent=transcript:{t.id}\n")
            done = 0
            for s, e in (t.cds if st == "+" else t.cds[::-1]):
                f.write(f"{c}\tt\tCDS\t{s + 1}\t{e}\t.\t{st}\t{(3 - done % 3) % 3}\tParent=transcript:{t.id}\n")
                done += e - s
            lo, hi = t.cds[0][0], t.cds[-1][1]
            for s, e in t.exons:
                for a, b, low in ((s, min(e, lo), True), (max(s, hi), e, False)):
                    if a < b:
                        kind = "five_prime_UTR" if low == (st == "+") else "three_prime_UTR"
                        f.write(f"{c}\tt\t{kind}\t{a + 1}\t{b}\t.\t{st}\t.\tParent=transcript:{t.id}\n")
spots = sorted({x + d for t in minus for seg in (t.exons, t.cds) for a, b in seg for x in (a, b) for d in range(-10, 11)}
               | {rng.randint(a, b - 1) for t in minus for a, b in t.exons for _ in range(2)}
               | {rng.randint(t.exons[0][0], t.exons[-1][1]) for t in minus for _ in range(3)})
spots = sorted(rng.sample(spots, 100))
crecs = []
for i, p in enumerate(spots):
    k = rng.random()
    s, e, alt = ((p, p + 1, rng.choice([b for b in "ACGT" if b != genome["20"][p]])) if k < 0.65 else
                 (p, p + 1, "") if k < 0.75 else (p, p + 3, "") if k < 0.82 else (p, p + 2, "") if k < 0.88 else
                 (p, p, randseq(rng.choice([1, 2, 3, 6]))))
    crecs.append(vcf_record("20", s, e, alt, f"r{i}") + ((s, e, alt),))
    crecs.append(vcf_record("20rc", L - e, L - s, revcomp(alt), f"r{i}") + ((L - e, L - s, revcomp(alt)),))
crecs.sort()
cvcf = write_vcf(os.path.join(work, "random.vcf"), [x[:5] for x in crecs])
cprefix = os.path.join(work, "random")
run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", cvcf, "--cache", cache, "--out", cprefix])
csq_vcf = os.path.join(work, "random.csq.vcf")
run(["bcftools", "csq", "--local-csq", "-f", fasta, "-g", gff, cvcf, "-Ov", "-o", csq_vcf])
BCSQ = {"synonymous": "synonymous_variant", "missense": "missense_variant", "stop_lost": "stop_lost",
        "stop_gained": "stop_gained", "inframe_deletion": "inframe_deletion", "inframe_insertion": "inframe_insertion",
        "frameshift": "frameshift_variant", "splice_acceptor": "splice_acceptor_variant",
        "splice_donor": "splice_donor_variant", "start_lost": "start_lost", "splice_region": "splice_region_variant",
        "stop_retained": "stop_retained_variant", "5_prime_utr": "5_prime_UTR_variant",
        "3_prime_utr": "3_prime_UTR_variant", "non_coding": "non_coding_transcript_exon_variant",
        "intron": "intron_variant", "inframe_altering": "protein_altering_variant",
        "coding_sequence": "coding_sequence_variant", "start_retained": "start_retained_variant"}
theirs, their_intron = collections.defaultdict(set), set()
q = run(["bcftools", "query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%BCSQ\n", csq_vcf])
for line in q.stdout.splitlines():
    c, p, ref, alt, b = line.split("\t")
    for entry in (b.split(",") if b != "." else []):
        f = entry.split("|")
        terms = {BCSQ[x] for x in f[0].lstrip("@*").split("&")}
        if len(f) < 3 or not f[2]:
            their_intron.add((c, p, ref, alt))  # bcftools names no transcript for an intronic record
        else:
            theirs[(c, p, ref, alt, f[2])] |= terms
edit_of = {(x[0], str(x[1]), x[3], x[4]): x[5] for x in crecs}
zones = collections.defaultdict(set)  # edges of the splice zones: exonic 3, donor/acceptor 2, region 8 bases
for t in TXS:
    for (_, a), (b, _) in zip(t.exons, t.exons[1:]):
        zones[t.chrom] |= {a - 3, a, a + 2, a + 8, b - 8, b - 2, b, b + 3}
zones = {c: sorted(z) for c, z in zones.items()}


def placements(chrom, s, e, alt):
    """The changed bases of every equivalent placement of an indel within a repeat (an insertion with the base
    after it and, as bcftools reads it, its anchor base)."""
    seq, out = genome[chrom], []
    if e > s:  # a deletion of [s, e) slides while the base entering equals the base leaving
        a, b = s, e
        while a > 0 and seq[a - 1] == seq[b - 1]:
            a, b = a - 1, b - 1
        out.append(set(range(a, b)))
        while b < len(seq) and seq[b] == seq[a]:
            a, b = a + 1, b + 1
            out.append(set(range(a, b)))
        return out
    x, u = s, alt
    while x > 0 and seq[x - 1] == u[-1]:
        x, u = x - 1, u[-1] + u[:-1]
    while True:
        out += [{x}, {x - 1}]
        if x >= len(seq) or seq[x] != u[0]:
            return out
        x, u = x + 1, u[1:] + u[0]


boundaries = collections.defaultdict(set)  # exon and CDS ends, and the inner edges of start and stop codons
for t in TXS:
    boundaries[t.chrom] |= {x for a, b in t.exons for x in (a, b)}
    if t.cds:
        lo, hi = t.cds[0][0], t.cds[-1][1]
        boundaries[t.chrom] |= {lo, hi}
        zones[t.chrom] = sorted(set(zones[t.chrom]) | {lo, lo + 3, hi - 3, hi})


def ambiguous(chrom, s, e, alt):
    """An indel bcftools reads in another way than we do near a splice site or a start or stop codon: bcftools
    reads an indel from its anchor base and slides a deletion within a repeat or across an exon boundary to spare
    a splice site; we place it on the bases it changes, and call a deletion of exonic and intronic bases together
    a coding sequence variant (bcftools: the same, or a frameshift, or a splice site alone, depending on the
    strand and the side), and one of UTR and CDS bases by its UTR and CDS terms."""
    if e - s == 1 and len(alt) == 1:
        return False
    if any(s < x < e for x in boundaries[chrom]):
        return True
    label = lambda bases: {bisect.bisect_right(zones[chrom], p) for p in bases}
    own = label(range(s, e) if e > s else [s])
    return any(label(p) != own for p in placements(chrom, s, e, alt))


ours_rec = collections.defaultdict(list)
compared = excluded = 0
mismatch = collections.Counter()
for row in read_tsv(cprefix + ".variants.tsv"):
    if row["transcript_id"] == ".":
        continue
    k = (row["chrom"], row["pos"], row["ref"], row["alt"])
    terms = set(row["consequence"].split("&")) - {"upstream_gene_variant", "downstream_gene_variant",
                                                  "non_coding_transcript_variant"}
    ours_rec[k].append(terms)
    if ambiguous(k[0], *edit_of[k]):
        excluded += 1
        continue
    # bcftools csq: an intron only when nothing else (and per record), a splice site without its region
    mine = terms - {"intron_variant"}
    if mine & {"splice_donor_variant", "splice_acceptor_variant"}:
        mine -= {"splice_region_variant"}
    compared += 1
    bcf = theirs.get(k + (row["transcript_id"],), set())
    if {"frameshift_variant", "stop_retained_variant"} <= mine and "stop_lost" in bcf:
        mine = mine - {"stop_retained_variant"} | {"stop_lost"}  # bcftools may not read past the stop codon
    if mine != bcf:
        mismatch[(tuple(sorted(mine)), tuple(sorted(bcf)))] += 1
check(not mismatch, f"consequences differ from bcftools csq: {mismatch.most_common(8)}")
check(compared > 600 and excluded < compared / 5, f"compared {compared} pairs, excluded {excluded}")
intronic = {k for k, v in ours_rec.items() if any(v) and all(not (x - {"intron_variant"}) for x in v)}
check({k for k in intronic if not ambiguous(k[0], *edit_of[k])} ==
      {k for k in their_intron if not ambiguous(k[0], *edit_of[k])}, "intronic records differ from bcftools csq")
print(f"bcftools csq: {compared} allele-transcript pairs agree ({excluded} indels at splice-zone edges not compared)")

# ---- 4. notes, output formats, shards ----
section('notes, output formats, shards')
nrecs = [("20", 675250, "snv", genome["20"][675249], "A,<DEL>"), ("20", 687400, "star", genome["20"][687399], "*"),
         ("20", 687500, "mismatch", "A" if genome["20"][687499] != "A" else "C", "T"),
         ("20", 687600, "noalt", genome["20"][687599], "."), ("20rc", 100, "far", genome["20rc"][99], "G" if genome["20rc"][99] != "G" else "T"),
         ("X", 5, "contig", "A", "G")]
nvcf = os.path.join(work, "notes.vcf")
with open(nvcf, "w") as f:
    f.write("##fileformat=VCFv4.2\n##contig=<ID=20,length=%d>\n##contig=<ID=20rc,length=%d>\n##contig=<ID=X,length=9>\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" % (L, L))
    for rec in nrecs:
        f.write("\t".join(map(str, rec)) + "\t.\tPASS\t.\n")
nprefix = os.path.join(work, "notes")
r = run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", nvcf, "--out", nprefix])
for word in ("2 symbolic_allele", "1 ref_mismatch", "1 contig_not_in_fasta", "1 no_alt", "6 records", "6 alleles"):
    check(word in r.stderr, f"stderr counts '{word}': {r.stderr}")
q = run(["bcftools", "query", "-f", "%ID\t%INFO/ISOFORMER_NOTE\t%INFO/ISOFORMER\n", nprefix + ".variants.vcf.gz"])
notes = {line.split("\t")[0]: line.split("\t") for line in q.stdout.splitlines()}
check(len(notes) == 6, f"every input record is in the output VCF: {sorted(notes)}")
for vid, note in (("snv", "symbolic_allele"), ("star", "symbolic_allele"), ("mismatch", "ref_mismatch"),
                  ("noalt", "no_alt"), ("contig", "contig_not_in_fasta"), ("far", ".")):
    check(notes.get(vid, ["", ""])[1] == note, f"record {vid}: note {notes.get(vid)}, expected {note}")
check("A|missense_variant|MODERATE|BCAS1|8537|uc002xws.2|" in notes.get("snv", ["", "", ""])[2],
      f"a scored allele of a record with a symbolic one: {notes.get('snv')}")
header = run(["bcftools", "view", "-h", nprefix + ".variants.vcf.gz"]).stdout
fmt = re.search(r'ID=ISOFORMER,.*Format: ([^"]+)"', header)
if check(fmt, "the ISOFORMER header line gives the layout"):
    fields = fmt.group(1).split("|")
    check(fields[:4] == ["Allele", "Consequence", "IMPACT", "SYMBOL"] and len(fields) == 14 + 30, f"layout {fields}")
    sv = run(["bcftools", "+split-vep", "-a", "ISOFORMER", "-f", "%ID %Feature %Consequence %delta_Testis\n", "-d",
              nprefix + ".variants.vcf.gz"])
    check(re.search(r"^snv uc002xws\.2 missense_variant -?[0-9.e-]+$", sv.stdout, re.M), f"split-vep reads it: {sv.stdout}")
ntsv = read_tsv(nprefix + ".variants.tsv")
check({row["note"] for row in ntsv if row["transcript_id"] == "."} ==
      {"symbolic_allele", "ref_mismatch", "no_alt", "contig_not_in_fasta"}, "a TSV row per allele not scored")
ET.parse(nprefix + ".variants.svg")  # well-formed

# an input header that declares neither its contig nor its INFO tags (htslib reads it, declaring them as it goes):
# the output's header declares them, so bcftools reads the input's values back, from one run and from gathered
# shards (the header was written before the records were read: "no such tag defined in the VCF header")
bvcf = os.path.join(work, "bare.vcf")
with open(bvcf, "w") as f:
    f.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    for pos, vid, info in ((675250, "b1", "DP=5"), (687500, "b2", "."), (687600, "b3", "XX=3")):
        ref = genome["20"][pos - 1]
        f.write(f"20\t{pos}\t{vid}\t{ref}\t{'A' if ref != 'A' else 'C'}\t.\t.\t{info}\n")
bare = {}
for tag, extra in (("bare", []), ("bare.s1", ["--shard", "1/2"]), ("bare.s2", ["--shard", "2/2"])):
    run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", bvcf, "--out", os.path.join(work, tag),
         *extra])
run([iso, "variants", "--gather", "--out", os.path.join(work, "bare.gathered"), os.path.join(work, "bare.s2"),
     os.path.join(work, "bare.s1")])
for tag in ("bare", "bare.gathered"):
    q = run(["bcftools", "query", "-f", "%ID %INFO/DP %INFO/XX\n", os.path.join(work, tag + ".variants.vcf.gz")],
            ok=False)
    check(q.returncode == 0 and q.stdout == "b1 5 .\nb2 . .\nb3 . 3\n",
          f"{tag}: bcftools reads the undeclared tags back: {q.stdout!r} {q.stderr.strip()[-200:]}")

# the index answers region queries; shards concatenate to the whole run
q = run(["bcftools", "view", "-H", "-r", "20rc:812000-950000", cprefix + ".variants.vcf.gz"])
expect_n = sum(1 for x in crecs if x[0] == "20rc" and x[1] <= 950000 and x[1] + len(x[3]) - 1 >= 812000)
check(len(q.stdout.splitlines()) == expect_n, f"region query: {len(q.stdout.splitlines())} records, expected {expect_n}")
whole = open(prefix + ".variants.tsv").read().splitlines()
parts, vparts = [], []
for i in (1, 2, 3):
    sp = os.path.join(work, f"kinds.shard{i}")
    run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", vcf, "--cache", cache, "--shard", f"{i}/3",
         "--out", sp])
    lines = open(sp + ".variants.tsv").read().splitlines()
    check(lines[0] == whole[0], "shards share the header")
    parts.append(lines[1:])
    vparts += run(["bcftools", "view", "-H", sp + ".variants.vcf.gz"]).stdout.splitlines()
check(all(parts), f"every shard has records: {[len(p) for p in parts]}")
check([x for p in parts for x in p] == whole[1:], "the shards' rows, in order, are the unsharded rows")
check(vparts == run(["bcftools", "view", "-H", prefix + ".variants.vcf.gz"]).stdout.splitlines(),
      "the shards' VCF records, in order, are the unsharded records")
gathered = os.path.join(work, "gathered")
run([iso, "variants", "--gather", "--out", gathered, *(os.path.join(work, f"kinds.shard{i}") for i in (3, 1, 2))])
check(open(gathered + ".variants.tsv").read() == open(prefix + ".variants.tsv").read(),
      "--gather writes the unsharded table from shards given in any order")
check(run(["bcftools", "view", "-H", gathered + ".variants.vcf.gz"]).stdout ==
      run(["bcftools", "view", "-H", prefix + ".variants.vcf.gz"]).stdout, "--gather writes the unsharded records")
check(os.path.exists(gathered + ".variants.vcf.gz.tbi") and
      open(gathered + ".variants.svg").read() == open(prefix + ".variants.svg").read(),
      "--gather indexes the VCF and draws the unsharded plot")
# the shards' run manifests: a missing shard, or one given twice, is refused and writes nothing (a missing one
# gave a partial set, exit 0); the gathered set has its own manifest
check(os.path.exists(gathered + ".run.json"), "--gather writes a run manifest")
for shards, needle, what in (((1, 3), "shard 2/3 is missing", "a missing shard"),
                             ((1, 2, 2, 3), "are both shard 2/3", "a shard twice")):
    partial = os.path.join(work, "partial")
    r = run([iso, "variants", "--gather", "--out", partial, *(os.path.join(work, f"kinds.shard{i}") for i in shards)],
            ok=False)
    left = [f for f in os.listdir(work) if f.startswith("partial.")]
    check(r.returncode != 0 and needle in r.stderr and not left,
          f"--gather with {what}: exit {r.returncode}, nothing written ({left}), message {r.stderr.strip()[-200:]}")
# the reuse path against two full predictions per allele and transcript (--no-reuse): the same bits on the CPU
naive = os.path.join(work, "naive")
for tag, extra in (("reuse", []), ("naive", ["--no-reuse"])):
    run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", vcf, "--transcripts",
         "uc002xws.2,uc010zzc.2_rc", "--out", naive + "." + tag, *extra])
check(open(naive + ".reuse.variants.tsv").read() == open(naive + ".naive.variants.tsv").read() and
      len(open(naive + ".reuse.variants.tsv").read().splitlines()) > 20,
      "reusing embeddings gives the values of two full predictions per allele and transcript")
# --region through a tabix index (VCF.gz), a CSI index (BCF) and no index (plain VCF, filtered while read): the
# same records
bcf = os.path.join(work, "kinds.bcf")
run(["bcftools", "view", "-Ob", "-o", bcf, vcf])
run(["bcftools", "index", bcf])
plain = os.path.join(work, "kinds.plain.vcf")
with gzip.open(vcf, "rt") as src, open(plain, "w") as dst:
    dst.write(src.read())
region_rows = []
for source in (vcf, bcf, plain):
    out = os.path.join(work, "region." + os.path.basename(source))
    run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", source, "--cache", cache,
         "--region", f"20rc:{L - tss - 800}-{L - tss + 200}", "--out", out])
    region_rows.append(open(out + ".variants.tsv").read())
expect_rows = [x for x in whole[1:] if x.split("\t")[0] == "20rc" and L - tss - 800 <= int(x.split("\t")[1]) <= L - tss + 200]
check(region_rows[0] == region_rows[1] == region_rows[2] and region_rows[0].splitlines()[1:] == expect_rows
      and expect_rows, f"--region: the same {len(expect_rows)} rows from VCF.gz + tbi, BCF + csi and plain VCF")
sel = os.path.join(work, "selected")
run([iso, "variants", *MODEL, "--fasta", fasta, "--gtf", gtf, "--vcf", vcf, "--cache", cache, "--transcripts",
     "uc010zzc.2_rc", "--out", sel])
check({row["transcript_id"] for row in read_tsv(sel + ".variants.tsv")} <= {"uc010zzc.2_rc", "."},
      "--transcripts scores against the selected transcripts only")

# ---- 5. real records: vt-examples' chr20 indel, as given and as vt normalizes it ----
section('real records')
real = os.path.join(work, "vt")
r = run([iso, "variants", *MODEL, "--fasta", f"{data}/genome.fa.gz", "--gtf", f"{data}/annotation.gtf",
         "--chrom-alias", f"{data}/chromAlias.txt", "--vcf", f"{data}/vt-chr20.vcf", "--window", "196608",
         "--transcripts", "uc002xws.2,uc010zza.1",
         "--out", real])
check("ref_mismatch" not in r.stderr and "2 records" in r.stderr, f"real records: {r.stderr}")
vt = read_tsv(real + ".variants.tsv")
by_pos = collections.defaultdict(dict)
for row in vt:
    by_pos[row["pos"]][row["transcript_id"]] = row
check(set(by_pos) == {"772452", "772453"} and by_pos["772452"].keys() == by_pos["772453"].keys(),
      "both forms reach the same transcripts")
for tid, row in by_pos["772452"].items():
    other = by_pos["772453"][tid]
    check(row["consequence"] == "upstream_gene_variant" and row["changed"] in ("dna", "none"), f"{tid}: {row}")
    check(all(row["alt " + t] == other["alt " + t] for t in tissues), f"{tid}: the two forms of one indel differ")
check(any(row["changed"] == "dna" for row in by_pos["772452"].values()),
      "the indel 85 kb upstream is inside the 196,608 bp window of the isoforms starting at the gene's 5' end")

# ---- 6. a ribosomal slippage and a partial codon after the stop, read again (their own script) ----
section('CDS read again with a slippage or a partial codon')
r = run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_variants_reread.py"), iso,
         os.path.join(work, "reread"), data])
print(r.stdout, end="")
r = run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_variants_reread_edge.py"),
         iso, os.path.join(work, "reread_edge"), data])
print(r.stdout, end="")
r = run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_variants_boundaries.py"),
         iso, os.path.join(work, "boundaries"), data])
print(r.stdout, end="")

section("done")
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("variants: all checks passed")
