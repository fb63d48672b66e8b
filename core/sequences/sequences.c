/* Per-transcript sequences: DNA window around the TSS, spliced RNA, CDS and its translation. */
#include "isoformer/sequences.h"

#include <stdlib.h>
#include <string.h>

/* Complement of a nucleotide or IUPAC code, keeping its case (soft-masking survives reverse complementing, as
 * in samtools faidx -i); anything else becomes N. */
static char complement(char b)
{
    static const char from[] = "ACGTRYSWKMBDHVNacgtryswkmbdhvn", to[] = "TGCAYRSWMKVHDBNtgcayrswmkvhdbn";
    const char *p = b ? strchr(from, b) : NULL;
    return p ? to[p - from] : 'N';
}

void iso_revcomp_inplace(char *seq, int64_t len)
{
    for (int64_t i = 0, j = len - 1; i <= j; i++, j--) {
        char a = complement(seq[i]);
        seq[i] = complement(seq[j]);
        seq[j] = a;
    }
}

int iso_model_bases(char *seq, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        char c = seq[i] >= 'a' && seq[i] <= 'z' ? (char)(seq[i] - 'a' + 'A') : seq[i];
        if (c && strchr("ACGTN", c))
            seq[i] = c;
        else if (c && strchr("RYSWKMBDHV", c))
            seq[i] = 'N';
        else
            return iso_error(ISO_EFORMAT, "base %lld is '%c' (byte 0x%02x): expected a nucleotide (A, C, G, T, N, "
                                          "or an IUPAC ambiguity code)", (long long)i + 1,
                             seq[i] >= 0x20 && seq[i] < 0x7f ? seq[i] : '?', (unsigned char)seq[i]);
    }
    return ISO_OK;
}

iso_interval iso_dna_window(const iso_transcript *tx, const iso_window_opts *opts)
{
    int64_t w = opts->window, half = w / 2;
    iso_interval iv;
    if (tx->strand == '-' && opts->revcomp_minus) { /* base `half` of the reversed window is the TSS */
        iv.end = tx->tss + half + 1;
        iv.start = iv.end - w;
    } else {
        iv.start = tx->tss - half;
        iv.end = iv.start + w;
    }
    return iv;
}

int iso_extract_dna(iso_fasta *fa, const iso_transcript *tx, const iso_window_opts *opts, char **seq)
{
    iso_interval iv = iso_dna_window(tx, opts);
    int rc = iso_fasta_fetch(fa, tx->chrom, iv.start, iv.end, seq);
    if (rc < 0)
        return rc;
    if (tx->strand == '-' && opts->revcomp_minus)
        iso_revcomp_inplace(*seq, iv.end - iv.start);
    return ISO_OK;
}

/* Concatenation of segments (sorted by start) read 5'->3' on the transcript's strand. */
static int fetch_segments(iso_fasta *fa, const iso_transcript *tx, const iso_interval *seg, int n, char **seq)
{
    *seq = NULL;
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += seg[i].end - seg[i].start;
    char *out = malloc((size_t)total + 1);
    if (!out)
        return iso_error(ISO_ENOMEM, "%s: out of memory for %lld bases", tx->transcript_id, (long long)total);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        char *part;
        int rc = iso_fasta_fetch(fa, tx->chrom, seg[i].start, seg[i].end, &part);
        if (rc < 0) {
            free(out);
            return iso_error_context("transcript %s", tx->transcript_id);
        }
        memcpy(out + at, part, (size_t)(seg[i].end - seg[i].start));
        at += seg[i].end - seg[i].start;
        free(part);
    }
    out[total] = '\0';
    if (tx->strand == '-')
        iso_revcomp_inplace(out, total);
    *seq = out;
    return ISO_OK;
}

int iso_extract_rna(iso_fasta *fa, const iso_transcript *tx, char **seq)
{
    return fetch_segments(fa, tx, tx->exons, tx->n_exons, seq);
}

int iso_extract_cds(iso_fasta *fa, const iso_transcript *tx, char **seq)
{
    return fetch_segments(fa, tx, tx->cds, tx->n_cds, seq);
}

int64_t iso_segments_length(const iso_interval *seg, int n)
{
    int64_t len = 0;
    for (int i = 0; i < n; i++)
        len += seg[i].end - seg[i].start;
    return len;
}

int64_t iso_segments_offset(const iso_interval *seg, int n, char strand, int64_t pos)
{
    int64_t before = 0;
    for (int k = 0; k < n; k++) {
        const iso_interval *s = &seg[strand == '+' ? k : n - 1 - k];
        if (pos >= s->start && pos < s->end)
            return before + (strand == '+' ? pos - s->start : s->end - 1 - pos);
        before += s->end - s->start;
    }
    return -1;
}

int64_t iso_segments_position(const iso_interval *seg, int n, char strand, int64_t off)
{
    for (int k = 0; off >= 0 && k < n; k++) {
        const iso_interval *s = &seg[strand == '+' ? k : n - 1 - k];
        if (off < s->end - s->start)
            return strand == '+' ? s->start + off : s->end - 1 - off;
        off -= s->end - s->start;
    }
    return -1;
}

int iso_extract_protein(iso_fasta *fa, const iso_transcript *tx, char **protein, unsigned *flags)
{
    *protein = NULL;
    *flags = tx->flags;
    if (tx->n_cds == 0) {
        *protein = strdup("");
        return *protein ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    }
    char *cds;
    int rc = iso_extract_cds(fa, tx, &cds);
    if (rc < 0)
        return rc;
    int64_t cds_len = (int64_t)strlen(cds), skip = tx->cds_phase < cds_len ? tx->cds_phase : cds_len;
    int64_t len = cds_len - skip; /* a CDS shorter than its phase has no codon */
    const char *coding = cds + skip;
    int code = iso_transcript_code(tx);
    char *p = iso_translate(coding, len, code);
    if (!p) {
        free(cds);
        return iso_error(ISO_ENOMEM, "%s: out of memory", tx->transcript_id);
    }
    int64_t n = (int64_t)strlen(p);
    for (int i = 0; i < tx->n_sec; i++) {
        int64_t off = iso_segments_offset(tx->cds, tx->n_cds, tx->strand, tx->sec_pos[i]) - tx->cds_phase;
        if (off >= 0 && off / 3 < n && p[off / 3] == '*')
            p[off / 3] = 'U';
    }
    if (len % 3)
        *flags |= ISO_TX_CDS_PARTIAL_CODON;
    if (tx->cds_phase || len < 3 || !iso_codon_is_start(code, coding)) /* soft-masked genomes: any case */
        *flags |= ISO_TX_NO_START_CODON;
    else
        p[0] = 'M'; /* an initiator is methionine whatever its codon (ATT, ATA, GTG in mitochondria), as UniProt,
                     * RefSeq and Biopython's cds=True read it */
    /* the last whole codon a stop: the CDS ends there, and bases after it (a partial codon, flagged above) are not
     * read, as gffread -y reads them. A mitochondrial stop completed by polyadenylation (the CDS ends in T or TA)
     * has none: no_stop_codon and partial_codon. */
    if (n > 0 && p[n - 1] == '*')
        p[--n] = '\0';
    else
        *flags |= ISO_TX_NO_STOP_CODON;
    if (memchr(p, '*', (size_t)n))
        *flags |= ISO_TX_INTERNAL_STOP;
    free(cds);
    *protein = p;
    return ISO_OK;
}
