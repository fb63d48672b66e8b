"""isoformer quant's counting rules on hand-made alignments whose answer is known by construction (no aligner):
  - a read whose splice sits 2 or 3 bases beside an annotated intron of the same length (an aligner's placement
    of an ambiguous splice) counts for that transcript; where another transcript has the read's own intron,
    that one alone gets it;
  - a multi-mapping pair (NH:2) whose other alignment fits no transcript counts as one whole fragment;
  - a pair multi-mapping between two transcripts is one fragment shared by the EM, whose answer here is exact
    (equal lengths: 8 unique + 4 unique + 6 shared fragments split 12 / 6);
  - one mate aligned once and paired with two alignments of the other (as HISAT2 reports it, without HI):
    the pair that fits a transcript counts once, the other pairing gives nothing to the second transcript;
  - a splice to a 2-base end block says nothing: the read fits the isoform that keeps the intron too (split 4:2);
  - a read soft-clipped where one isoform's exon ends and another's goes on fits the first only;
  - a read spliced at one isoform's junction with 3 bases inserted beside it fits the isoform whose exon is
    3 bases longer, not the one that needs the insertion;
  - pairs multi-mapping across two contigs are shared as on one (3 + 1 unique, 5 shared: 6.75 / 2.25), and the
    output is the same bytes with 1 and 2 threads (the contigs read in parallel);
  - a pair whose mates start at one position is one fragment whichever mate the file has first, and a secondary
    alignment without NH (minimap2, BWA) is not a second fragment;
  - with 300 transcripts on a contig, each pair fits its own, and a transcript spanning them is still found;
  - the coverage bigWigs, base by base against the CIGARs (splices, deletions, clips, mates, multi-mappers,
    skipped records), unstranded and split by strand.
Usage: test_quant_model.py ISOFORMER_BINARY WORKDIR"""
import csv
import os
import shutil
import subprocess
import sys

iso, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
# transcript -> exons (0-based, half-open), all 400 bases long so that effective lengths are equal
tx = {"A1": [(1000, 1200), (1500, 1700)],
      "D1": [(3000, 3200), (3500, 3700)], "D2": [(3000, 3198), (3498, 3700)],
      "B1": [(5000, 5400)], "C1": [(7000, 7400)], "E1": [(9000, 9400)], "F1": [(11000, 11400)],
      "G1": [(13000, 13400)],
      "H1": [(16000, 16200), (16500, 16700)], "H2": [(16000, 16400)],
      "J1": [(17000, 17200), (17500, 17700)], "J2": [(17000, 17400)],
      "K1": [(18000, 18200), (18500, 18700)], "K2": [(18000, 18203), (18500, 18700)],
      "P1": [(19000, 19400)], "U1": [(1000, 1400)]}
with open(f"{work}/t.gtf", "w") as f:
    for t, exons in tx.items():
        for s, e in exons:
            chrom = "chrU" if t == "U1" else "chrT"
            f.write(f'{chrom}\tt\texon\t{s + 1}\t{e}\t.\t+\t.\tgene_id "g{t}"; transcript_id "{t}";\n')

records = []


def pair(name, pos1, cigar1, pos2, nh=1, secondary=False, cigar2="50M", chrom="chrT"):
    """Mate 1 forward at pos1 (0-based), mate 2 reverse at pos2."""
    tag, sec = f"NH:i:{nh}", 256 if secondary else 0
    tlen = pos2 + 50 - pos1
    records.append(f"{name}\t{99 + sec}\t{chrom}\t{pos1 + 1}\t60\t{cigar1}\t=\t{pos2 + 1}\t{tlen}\t*\t*\t{tag}")
    records.append(f"{name}\t{147 + sec}\t{chrom}\t{pos2 + 1}\t60\t{cigar2}\t=\t{pos1 + 1}\t{-tlen}\t*\t*\t{tag}")


for i in range(10):  # A1's own splice
    pair(f"a{i}", 1170 + i, f"{30 - i}M300N{20 + i}M", 1600)
for i in range(10):  # shifted by -2: 28 bases then the intron at 1198..1498
    pair(f"s{i}", 1168, "30M300N20M", 1600)
for i in range(5):  # shifted by +3
    pair(f"p{i}", 1173, "30M300N20M", 1600)
for i in range(10):  # D1's splice exactly, which is D2's moved by 2 bases
    pair(f"d{i}", 3170, "30M300N20M", 3600)
for i in range(4):  # D2's own splice
    pair(f"e{i}", 3168, "30M300N20M", 3600)
for i in range(6):  # B1 and an intergenic second alignment
    pair(f"b{i}", 5100, "50M", 5250, nh=2)
    pair(f"b{i}", 15100, "50M", 15250, nh=2, secondary=True)
for i in range(8):
    pair(f"c{i}", 7100, "50M", 7250)
for i in range(4):
    pair(f"u{i}", 9100, "50M", 9250)
for i in range(6):  # C1 or E1
    pair(f"m{i}", 7120, "50M", 7270, nh=2)
    pair(f"m{i}", 9120, "50M", 9270, nh=2, secondary=True)
for i in range(2):
    pair(f"g{i}", 13050, "50M", 13200)
for i in range(4):
    pair(f"h{i}", 16170, "30M300N20M", 16600)  # H1's splice
    pair(f"j{i}", 17170, "30M300N20M", 17600)
    pair(f"k{i}", 18170, "30M300N20M", 18600)
for i in range(2):
    pair(f"i{i}", 16300, "50M", 16350)  # inside H2's retained intron
    pair(f"l{i}", 17300, "50M", 17350)
for i in range(3):
    pair(f"n{i}", 16010, "50M", 16122, cigar2="78M300N2M")  # a 2-base anchor
    pair(f"o{i}", 17010, "50M", 17160, cigar2="40M10S")  # clipped where J1's exon ends
    pair(f"q{i}", 18010, "50M", 18172, cigar2="27M3I1M300N19M")  # K1's splice + 3 inserted bases: K2's splice
for i in range(5):  # P1 on chrT or U1 on chrU
    pair(f"r{i}", 19100, "50M", 19250, nh=2)
    pair(f"r{i}", 1100, "50M", 1250, nh=2, secondary=True, chrom="chrU")
for i in range(3):
    pair(f"v{i}", 19120, "50M", 19270)
pair("w", 1120, "50M", 1270, chrom="chrU")
# mate 1 once, at F1, paired with mate 2 at F1 and at G1
records.append("x\t99\tchrT\t11101\t60\t50M\t=\t11251\t200\t*\t*\tNH:i:2")
records.append("x\t355\tchrT\t11101\t60\t50M\t=\t13101\t2050\t*\t*\tNH:i:2")
records.append("x\t147\tchrT\t11251\t60\t50M\t=\t11101\t-200\t*\t*\tNH:i:2")
records.append("x\t403\tchrT\t13101\t60\t50M\t=\t11101\t-2050\t*\t*\tNH:i:2")

with open(f"{work}/t.sam", "w") as f:
    f.write("@SQ\tSN:chrT\tLN:20000\n@SQ\tSN:chrU\tLN:5000\n" + "\n".join(records) + "\n")
subprocess.run(["samtools", "sort", "-o", f"{work}/t.bam", f"{work}/t.sam"], check=True, capture_output=True)
subprocess.run(["samtools", "index", f"{work}/t.bam"], check=True)
r = subprocess.run([iso, "quant", "--bam", f"{work}/t.bam", "--gtf", f"{work}/t.gtf", "--strand", "none", "--out",
                    f"{work}/q", "-v"], capture_output=True, text=True)
print(r.stderr.strip())
if r.returncode:
    sys.exit(f"quant failed: {r.stderr}")
r2 = subprocess.run([iso, "quant", "--bam", f"{work}/t.bam", "--gtf", f"{work}/t.gtf", "--strand", "none", "--out",
                     f"{work}/q2", "--threads", "2"], capture_output=True, text=True)
same = r2.returncode == 0 and open(f"{work}/q.quant.sf").read() == open(f"{work}/q2.quant.sf").read()
got = {row["Name"]: float(row["NumReads"]) for row in csv.DictReader(open(f"{work}/q.quant.sf"), delimiter="\t")}
want = {"A1": 25, "D1": 10, "D2": 4, "B1": 6, "C1": 12, "E1": 6, "F1": 1, "G1": 2, "H1": 6, "H2": 3, "J1": 7,
        "J2": 2, "K1": 4, "K2": 3, "P1": 6.75, "U1": 2.25}
bad = [f"{t}: {got.get(t)} fragments, expected {n}" for t, n in want.items() if abs(got.get(t, -1) - n) >= 0.01]
bad += [] if same else [f"1 and 2 threads differ: {r2.stderr}"]

# Pipelines' BAMs, each on its own transcript so that the counts are exact:
#  - pairs whose mates start at one position (fragments no longer than the reads), samtools sorting the forward
#    mate first: read 2 first in half of them (flags 163/83). Each pair is one fragment (they were split in two);
#  - reads aligned by minimap2/BWA/Bowtie 2, which write no NH: a secondary alignment is not a second fragment.
with open(f"{work}/p.gtf", "w") as f:
    for t, (s, e) in {"S1": (1000, 1400), "M1": (3000, 3400), "M2": (5000, 5400)}.items():
        f.write(f'chrT\tt\texon\t{s + 1}\t{e}\t.\t+\t.\tgene_id "g{t}"; transcript_id "{t}";\n')
recs = []
for i in range(5):  # read 2 forward at the same start as read 1 reverse
    recs.append(f"z{i}\t163\tchrT\t{1101 + i}\t60\t50M\t=\t{1101 + i}\t50\t*\t*")
    recs.append(f"z{i}\t83\tchrT\t{1101 + i}\t60\t50M\t=\t{1101 + i}\t-50\t*\t*")
for i in range(3):  # read 1 forward first
    recs.append(f"y{i}\t99\tchrT\t{1201 + i}\t60\t50M\t=\t{1201 + i}\t50\t*\t*")
    recs.append(f"y{i}\t147\tchrT\t{1201 + i}\t60\t50M\t=\t{1201 + i}\t-50\t*\t*")
for i in range(4):  # primary at M1, secondary at M2, no NH
    recs.append(f"w{i}\t0\tchrT\t{3101 + i}\t60\t50M\t*\t0\t0\t*\t*")
    recs.append(f"w{i}\t256\tchrT\t{5101 + i}\t0\t50M\t*\t0\t0\t*\t*")
for i in range(2):
    recs.append(f"v{i}\t0\tchrT\t{5201 + i}\t60\t50M\t*\t0\t0\t*\t*")


def fragments_are(name, header, recs, want):
    """quant --strand none on the SAM records of recs against NAME.gtf: NumReads per transcript as in want."""
    with open(f"{work}/{name}.sam", "w") as f:
        f.write(header + "\n" + "\n".join(recs) + "\n")
    subprocess.run(["samtools", "sort", "-o", f"{work}/{name}.bam", f"{work}/{name}.sam"], check=True,
                   capture_output=True)
    subprocess.run(["samtools", "index", f"{work}/{name}.bam"], check=True)
    r = subprocess.run([iso, "quant", "--bam", f"{work}/{name}.bam", "--gtf", f"{work}/{name}.gtf", "--strand",
                        "none", "--out", f"{work}/{name}", "-v"], capture_output=True, text=True)
    print(r.stderr.strip())
    got = {row["Name"]: float(row["NumReads"])
           for row in csv.DictReader(open(f"{work}/{name}.quant.sf"), delimiter="\t")} if r.returncode == 0 else {}
    return [f"{t}: {got.get(t)} fragments, expected {n} ({r.stderr.strip()})" for t, n in want.items()
            if abs(got.get(t, -1) - n) >= 0.01]


bad += fragments_are("p", "@SQ\tSN:chrT\tLN:20000", recs, {"S1": 5 + 3, "M1": 4, "M2": 2})
# Many transcripts on one contig (find_compatible skips blocks of 64 that end before a read): 300 tiles, one
# transcript spanning them with its exons at both ends, a pair in every 7th tile and one in the long one's last
# exon, which the scan reaches past the skipped blocks. Each pair fits one transcript.
with open(f"{work}/m.gtf", "w") as f:
    f.write('chrM\tt\texon\t501\t900\t.\t+\t.\tgene_id "gL"; transcript_id "L1";\n'
            'chrM\tt\texon\t98001\t98400\t.\t+\t.\tgene_id "gL"; transcript_id "L1";\n')
    for i in range(300):
        f.write(f'chrM\tt\texon\t{1001 + 320 * i}\t{1300 + 320 * i}\t.\t+\t.\tgene_id "g{i}"; transcript_id "T{i}";\n')
recs = [f"l0\t99\tchrM\t98101\t60\t50M\t=\t98251\t200\t*\t*", f"l0\t147\tchrM\t98251\t60\t50M\t=\t98101\t-200\t*\t*"]
for i in range(0, 300, 7):
    recs.append(f"t{i}\t99\tchrM\t{1021 + 320 * i}\t60\t50M\t=\t{1221 + 320 * i}\t250\t*\t*")
    recs.append(f"t{i}\t147\tchrM\t{1221 + 320 * i}\t60\t50M\t=\t{1021 + 320 * i}\t-250\t*\t*")
bad += fragments_are("m", "@SQ\tSN:chrM\tLN:120000", recs,
                     {"L1": 1, **{f"T{i}": 1 if i % 7 == 0 else 0 for i in range(300)}})
# Coverage, base by base against the CIGARs read here: M, =, X and D cover (as bedtools genomecov -split counts
# them), N, I, S and H do not; each mate counts (overlapping mates twice), an NH:2 alignment 1/2; duplicate,
# QC-failed, supplementary and unmapped records and a secondary without NH add nothing; a read past the contig
# end is cut there. Scaled per million assigned fragments, known by construction: all 9 fit a transcript
# unstranded; with --strand fr the reverse single read (r0) is antisense to T2 and drops out (8), though its
# bases stay on the minus track.
import re
import numpy as np
from bx.bbi.bigwig_file import BigWigFile
lens = {"chrT": 20000, "chrU": 5000}
with open(f"{work}/c.gtf", "w") as f:
    for t, c, exons in (("T1", "chrT", [(1000, 1200), (1500, 1700)]), ("T2", "chrT", [(3000, 4000)]),
                        ("T3", "chrT", [(19500, 20000)]), ("T4", "chrU", [(100, 1100)])):
        for s, e in exons:
            f.write(f'{c}\tt\texon\t{s + 1}\t{e}\t.\t+\t.\tgene_id "g{t}"; transcript_id "{t}";\n')
recs = []
for name, flag, chrom, pos, cigar, mpos, nh in (
        ("s0", 99, "chrT", 1170, "30M300N20M", 1600, 0), ("s0", 147, "chrT", 1600, "50M", 1170, 0),
        ("d0", 99, "chrT", 3100, "20M5D30M", 3300, 0), ("d0", 147, "chrT", 3300, "50M", 3100, 0),
        ("i0", 99, "chrT", 3150, "20M3I27M", 3320, 0), ("i0", 147, "chrT", 3320, "5S45M", 3150, 0),
        ("o0", 99, "chrT", 3400, "50M", 3420, 0), ("o0", 147, "chrT", 3420, "10=1X39M", 3400, 0),
        ("m0", 99, "chrT", 3500, "50M", 3600, 2), ("m0", 147, "chrT", 3600, "50M", 3500, 2),
        ("m0", 355, "chrU", 200, "50M", 300, 2), ("m0", 403, "chrU", 300, "50M", 200, 2),
        ("w0", 0, "chrT", 3700, "50M", 0, 0), ("w0", 256, "chrT", 3800, "50M", 0, 0),
        ("x0", 1024, "chrT", 3050, "50M", 0, 0), ("x1", 512, "chrT", 3060, "50M", 0, 0),
        ("x2", 2048, "chrT", 3070, "50M", 0, 0), ("x3", 4, "chrT", 3080, "*", 0, 0),
        ("r0", 16, "chrT", 3900, "10H40M", 0, 0), ("e0", 0, "chrT", 19900, "2M1D48M", 0, 0),
        ("e1", 0, "chrT", 19960, "60M", 0, 0)):
    qlen = sum(int(n) for n, op in re.findall(r"(\d+)([MIS=X])", cigar))
    mate = f"=\t{mpos + 1}" if flag & 1 else "*\t0"
    recs.append((f"{name}\t{flag}\t{chrom}\t{pos + 1}\t60\t{cigar}\t{mate}\t0\t{'A' * qlen}\t{'I' * qlen}" +
                 (f"\tNH:i:{nh}" if nh else ""), flag, chrom, pos, cigar, nh or 1))
with open(f"{work}/c.sam", "w") as f:
    f.write("".join(f"@SQ\tSN:{c}\tLN:{n}\n" for c, n in lens.items()) + "\n".join(r[0] for r in recs) + "\n")
subprocess.run(["samtools", "sort", "-o", f"{work}/c.bam", f"{work}/c.sam"], check=True, capture_output=True)
subprocess.run(["samtools", "index", f"{work}/c.bam"], check=True)
depth = {(c, s): np.zeros(n) for c, n in lens.items() for s in "+-"}  # by the RNA's strand in an fr library
for _, flag, chrom, pos, cigar, nh in recs:
    if flag & (4 | 512 | 1024 | 2048) or (flag & 256 and nh == 1):
        continue
    for n, op in re.findall(r"(\d+)([MIDNSHP=X])", cigar):
        if op in "MD=X":
            depth[chrom, "-" if bool(flag & 16) != bool(flag & 128) else "+"][pos:pos + int(n)] += 1 / nh
        pos += int(n) if op in "MDN=X" else 0
for lib, n_assigned, tracks in (("none", 9, {"coverage": "+-"}), ("fr", 8, {"coverage.plus": "+",
                                                                            "coverage.minus": "-"})):
    r = subprocess.run([iso, "quant", "--bam", f"{work}/c.bam", "--gtf", f"{work}/c.gtf", "--strand", lib, "--out",
                        f"{work}/c_{lib}", "--coverage"], capture_output=True, text=True)
    if r.returncode:
        bad.append(f"coverage, --strand {lib}: {r.stderr.strip()}")
        continue
    for track, strands in tracks.items():
        with open(f"{work}/c_{lib}.{track}.bw", "rb") as fh:
            bw = BigWigFile(file=fh)
            for c, n in lens.items():
                want = sum(depth[c, s] for s in strands) * 1e6 / n_assigned
                got = bw.get_as_array(c.encode(), 0, n)
                got = np.zeros(n) if got is None else np.nan_to_num(got)
                off = int(np.sum(np.abs(got - want) > 1e-6 * np.maximum(want, 1)))
                bad += [f"coverage {lib} {track} {c}: {off} of {n} bases differ"] if off else []
for b in bad:
    print("FAIL:", b)
sys.exit(f"{len(bad)} failure(s)" if bad else 0)
