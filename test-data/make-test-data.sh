#!/usr/bin/env bash
# Rebuilds the committed test data from Debian packages (see README.md for provenance and licences):
#   genome.fa.gz (+ .fai, .gzi)  GRCh37 chr20:52,000,001-53,500,000 from vt-examples, contig renamed '20'
#                                 with coordinates shifted by -52,000,000 (so position p here is 52,000,000+p)
#   annotation.gtf               UCSC knownGene hg19 isoforms on that slice (r-bioc-genomicfeatures TxDb
#                                 sample), shifted the same way, contig 'chr20', Ensembl-style CDS/start/stop lines
#   annotation.gff3              the same transcripts converted to GFF3 by gffread
#   chromAlias.txt               UCSC chromAlias mapping the annotation's 'chr20' to the FASTA's '20'
#   vt-chr20.vcf                 the real chr20 variant records of vt-examples that fall in the slice (as given and
#                                as vt normalizes them), shifted the same way
# Needs samtools, tabix, gffread, python3 (scripts/install-deps.sh --data) and the data packages vt-examples,
# r-bioc-genomicfeatures, r-bioc-ensembldb: used where installed, else fetched with `apt-get download`.
set -euo pipefail
cd "$(dirname "$0")"
OFFSET=52000000
LEN=1500000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Root of a data package's files: / when installed, else the .deb unpacked under $tmp.
pkg_root() {
  if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; then
    echo /
  else
    (cd "$tmp" && apt-get download -q "$1" >/dev/null 2>&1 && dpkg -x "$1"_*.deb "root-$1") || {
      echo "make-test-data.sh: cannot get package $1" >&2; exit 1; }
    echo "$tmp/root-$1"
  fi
}
VT=$(pkg_root vt-examples)/usr/share/doc/vt/examples/ref
VT_NORMALIZE=$(dirname "$VT")/normalize
TXDB=$(pkg_root r-bioc-genomicfeatures)/usr/lib/R/site-library/GenomicFeatures/extdata/hg19_knownGene_sample.sqlite
ENSDB=$(pkg_root r-bioc-ensembldb)/usr/lib/R/site-library/ensembldb

# Genome slice. vt-examples ships the .gzi gzipped; samtools needs it beside the FASTA.
ln -s "$VT/20.fa.gz" "$tmp/20.fa.gz"
cp "$VT/20.fa.gz.fai" "$tmp/20.fa.gz.fai"
gzip -dc "$VT/20.fa.gz.gzi.gz" >"$tmp/20.fa.gz.gzi"
samtools faidx "$tmp/20.fa.gz" "20:$((OFFSET + 1))-$((OFFSET + LEN))" | sed '1s/.*/>20/' >"$tmp/genome.fa"
bgzip -f -c "$tmp/genome.fa" >genome.fa.gz
rm -f genome.fa.gz.fai genome.fa.gz.gzi
samtools faidx genome.fa.gz

python3 - "$TXDB" "$OFFSET" "$LEN" >annotation.gtf <<'PY'
import sqlite3, sys
db, offset, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = {"8537": "BCAS1"}  # Entrez Gene 8537 is BCAS1 (NCBI Gene)
con = sqlite3.connect(db)
txs = con.execute("""select t._tx_id, tx_name, tx_strand, g.gene_id from transcript t
                     left join gene g on g._tx_id = t._tx_id
                     where tx_chrom = 'chr20' and tx_start > ? and tx_end <= ? order by tx_start, tx_name""",
                  (offset, offset + length)).fetchall()
print("##description: UCSC knownGene hg19 (GenomicFeatures TxDb sample), chr20 shifted by -%d" % offset)
for tx_id, name, strand, gene in txs:
    gene = gene or name
    rows = con.execute("""select exon_start, exon_end, cds_start, cds_end from splicing s
                          join exon e on e._exon_id = s._exon_id left join cds c on c._cds_id = s._cds_id
                          where s._tx_id = ? order by exon_rank""", (tx_id,)).fetchall()
    attrs = 'gene_id "%s"; transcript_id "%s"; gene_name "%s"; transcript_type "%s";' % (
        gene, name, names.get(gene, gene), "protein_coding" if any(r[2] for r in rows) else "lncRNA")
    # TxDb: 1-based inclusive, exons in transcript order, CDS including the stop codon (UCSC convention).
    exons = [(s - offset, e - offset) for s, e, _, _ in rows]
    cds = [(s - offset, e - offset) for _, _, s, e in rows if s is not None]
    def emit(feature, s, e, frame="."):
        print("\t".join(["chr20", "knownGene", feature, str(s), str(e), ".", strand, frame, attrs]))
    def take(segs, n, from_end):
        """Splits n bases off the transcript-oriented 5' (or 3' when from_end) end of segs."""
        order = list(segs)  # transcript order already
        if from_end:
            order = order[::-1]
        taken, rest = [], []
        for s, e in order:
            if n <= 0:
                rest.append((s, e)); continue
            size = e - s + 1
            k = min(n, size)
            fwd = (strand == "+") != from_end  # cut at genomic low end?
            if fwd:
                taken.append((s, s + k - 1)); left = (s + k, e)
            else:
                taken.append((e - k + 1, e)); left = (s, e - k)
            if left[0] <= left[1]:
                rest.append(left)
            n -= k
        if from_end:
            rest = rest[::-1]
        return taken, rest
    for s, e in exons:
        emit("exon", s, e)
    if cds:
        stop, cds_nostop = take(cds, 3, True)  # Ensembl/GENCODE style: CDS lines exclude the stop codon
        start, _ = take(cds, 3, False)
        done = 0
        for s, e in cds_nostop:
            emit("CDS", s, e, str((3 - done % 3) % 3))
            done += e - s + 1
        for s, e in start:
            emit("start_codon", s, e, "0")
        for s, e in stop:
            emit("stop_codon", s, e, "0")
PY
gffread annotation.gtf -o annotation.gff3
printf '# UCSC chromAlias: FASTA name, then alternative names\n20\tchr20\tNC_000020.10\n' >chromAlias.txt

# A real Ensembl Bacteria (release 32) annotation in both GTF and GFF3, for the reader (no sequence).
cp "$ENSDB/gtf/Devosia_geojensis.ASM96941v1.32.gtf.gz" "$ENSDB/gff/Devosia_geojensis.ASM96941v1.32.gff3.gz" .

# Real variant records (1000 Genomes indels on GRCh37 chr20, from vt's normalize example) inside the slice: the
# input record and vt's left-normalized form of it, one contig line for the slice, positions shifted.
{
  gzip -dc "$VT_NORMALIZE/01_IN.vcf.gz" | grep '^##' | grep -v '^##contig'
  gzip -dc "$VT_NORMALIZE/01_OUT.vcf.gz" | grep '^##INFO=<ID=OLD_VARIANT,'
  printf '##contig=<ID=20,length=%d>\n' "$LEN"
  printf '##source=vt-examples 0.57721 normalize/01_IN.vcf.gz and 01_OUT.vcf.gz, GRCh37 chr20 shifted by -%d\n' "$OFFSET"
  gzip -dc "$VT_NORMALIZE/01_IN.vcf.gz" | grep '^#CHROM'
  for f in 01_IN 01_OUT; do gzip -dc "$VT_NORMALIZE/$f.vcf.gz" | grep -v '^#'; done |
    awk -F'\t' -v off="$OFFSET" -v len="$LEN" 'BEGIN { OFS = "\t" } $1 == "20" && $2 > off && $2 <= off + len { $2 -= off; print }' |
    sort -k2,2n
} >vt-chr20.vcf
