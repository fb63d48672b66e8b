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
    alignment without NH (minimap2, BWA) is not a second fragment.
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
with open(f"{work}/p.sam", "w") as f:
    f.write("@SQ\tSN:chrT\tLN:20000\n" + "\n".join(recs) + "\n")
subprocess.run(["samtools", "sort", "-o", f"{work}/p.bam", f"{work}/p.sam"], check=True, capture_output=True)
subprocess.run(["samtools", "index", f"{work}/p.bam"], check=True)
r = subprocess.run([iso, "quant", "--bam", f"{work}/p.bam", "--gtf", f"{work}/p.gtf", "--strand", "none", "--out",
                    f"{work}/p", "-v"], capture_output=True, text=True)
print(r.stderr.strip())
got = {row["Name"]: float(row["NumReads"]) for row in csv.DictReader(open(f"{work}/p.quant.sf"), delimiter="\t")} \
    if r.returncode == 0 else {}
want = {"S1": 5 + 3, "M1": 4, "M2": 2}
bad += [f"{t}: {got.get(t)} fragments, expected {n} ({r.stderr.strip()})" for t, n in want.items()
        if abs(got.get(t, -1) - n) >= 0.01]
for b in bad:
    print("FAIL:", b)
sys.exit(f"{len(bad)} failure(s)" if bad else 0)
