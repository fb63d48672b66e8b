/* VCF/BCF input through htslib: whole files or region queries through the index, records split per allele and
 * checked against the FASTA, genotypes of the selected samples. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/bgzf.h>
#include <htslib/hts.h>
#include <htslib/kstring.h>
#include <htslib/tbx.h>

#include "io/complete.h"
#include "variants_internal.h"

/* One index query: records of the input's contig tid overlapping [start, end). */
typedef struct {
    int tid;
    int64_t start, end;
} query;

struct iso_vcf {
    char *path;
    htsFile *fp;
    bcf_hdr_t *hdr;
    iso_fasta *fa;
    const iso_chrom_alias *alias;
    iso_region *regions; /* sorted; NULL: every record */
    int n_regions;
    tbx_t *tbx;          /* the index of a bgzipped VCF, or */
    hts_idx_t *idx;      /* of a BCF */
    query *queries;
    int n_queries, next_query;
    hts_itr_t *itr;
    kstring_t line;
    int genotypes;
    int32_t *gt;
    int gt_cap;
    int64_t ordinal, read;
};

static const char *const note_names[ISO_NOTE_COUNT] = {"symbolic_allele", "ref_mismatch", "contig_not_in_fasta",
                                                       "no_alt"};
const char *iso_note_name(int bit) { return bit >= 0 && bit < ISO_NOTE_COUNT ? note_names[bit] : "?"; }

bcf_hdr_t *iso_vcf_header(const iso_vcf *v) { return v->hdr; }
int iso_vcf_n_samples(const iso_vcf *v) { return v->genotypes ? bcf_hdr_nsamples(v->hdr) : 0; }
const char *iso_vcf_sample(const iso_vcf *v, int i) { return v->hdr->samples[i]; }
const char *iso_vcf_path(const iso_vcf *v) { return v->path; }

void iso_vcf_close(iso_vcf *v)
{
    if (!v)
        return;
    hts_itr_destroy(v->itr);
    if (v->tbx)
        tbx_destroy(v->tbx);
    if (v->idx)
        hts_idx_destroy(v->idx);
    bcf_hdr_destroy(v->hdr);
    if (v->fp)
        hts_close(v->fp);
    free(v->regions);
    free(v->queries);
    free(v->line.s);
    free(v->gt);
    free(v->path);
    free(v);
}

/* The index queries of the regions: for each of the input's contigs in index order (the file's order), the
 * regions of the FASTA contig it names (through the aliases). */
static int plan_queries(iso_vcf *v)
{
    int n_names = 0;
    const char **names = v->tbx ? tbx_seqnames(v->tbx, &n_names) : bcf_index_seqnames(v->idx, v->hdr, &n_names);
    if (!names && n_names)
        return iso_error(ISO_ENOMEM, "out of memory");
    v->queries = malloc((size_t)(n_names * v->n_regions + 1) * sizeof *v->queries);
    if (!v->queries) {
        free(names);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n_names; i++) {
        const char *chrom = iso_chrom_alias_map(v->alias, names[i]);
        int tid = v->tbx ? tbx_name2id(v->tbx, names[i]) : bcf_hdr_name2id(v->hdr, names[i]);
        for (int r = 0; r < v->n_regions; r++)
            if (!strcmp(v->regions[r].chrom, chrom))
                v->queries[v->n_queries++] = (query){tid, v->regions[r].start, v->regions[r].end};
    }
    free(names);
    return ISO_OK;
}

/* Name number n (1-based, as bcf_hdr_set_samples reports the first one missing) of a sample list: "A,B,C" or
 * "@FILE" with a name per line; 0 when it cannot be read back. */
static int nth_sample(const char *list, int n, char *name, size_t size)
{
    FILE *fp = list[0] == '@' ? fopen(list + 1, "r") : NULL;
    const char *p = list;
    int found = 0;
    for (int k = 1; !found && (fp || *p); k++) {
        char line[256];
        if (fp && !fgets(line, sizeof line, fp))
            break;
        const char *item = fp ? line : p;
        size_t len = fp ? strcspn(line, "\r\n") : strcspn(p, ",");
        if (k == n) {
            snprintf(name, size, "%.*s", (int)len, item);
            found = 1;
        }
        if (!fp)
            p += len + (p[len] == ',');
    }
    if (fp)
        fclose(fp);
    return found;
}

int iso_vcf_open(const char *path, iso_fasta *fa, const iso_chrom_alias *alias, const iso_region *regions,
                 int n_regions, const char *samples, iso_vcf **out)
{
    *out = NULL;
    iso_vcf *v = calloc(1, sizeof *v);
    if (!v || !(v->path = strdup(path)))
        return free(v), iso_error(ISO_ENOMEM, "out of memory");
    v->fa = fa;
    v->alias = alias;
    int rc = ISO_OK;
    if (!(v->fp = hts_open(path, "r")) || !(v->hdr = bcf_hdr_read(v->fp))) {
        rc = iso_error(v->fp ? ISO_EFORMAT : ISO_ENOTFOUND, "%s: %s", path,
                       v->fp ? "not a VCF or BCF file (no header)" : "cannot open");
        goto fail;
    }
    enum htsExactFormat fmt = hts_get_format(v->fp)->format;
    if (fmt != vcf && fmt != bcf) {
        rc = iso_error(ISO_EFORMAT, "%s: not a VCF or BCF file", path);
        goto fail;
    }
    /* a .vcf.gz cut at a block boundary reads as a shorter VCF */
    if ((rc = iso_check_complete(v->fp, path)) != ISO_OK)
        goto fail;
    if (samples) {
        v->genotypes = 1;
        int bad = samples[0] ? bcf_hdr_set_samples(v->hdr, samples[0] == '@' ? samples + 1 : samples, samples[0] == '@')
                             : 0;
        if (bad) {
            char name[256];
            if (bad < 0)
                rc = iso_error(ISO_EINVAL, "%s: cannot read the sample list %s", path, samples);
            else if (nth_sample(samples, bad, name, sizeof name))
                rc = iso_error(ISO_ENOTFOUND, "%s: sample '%s' (number %d of %s) is not in the VCF", path, name, bad,
                               samples);
            else
                rc = iso_error(ISO_ENOTFOUND, "%s: sample number %d of %s is not in the VCF", path, bad, samples);
            goto fail;
        }
        if (bcf_hdr_nsamples(v->hdr) == 0) {
            rc = iso_error(ISO_EINVAL, "%s: no samples to take haplotypes from", path);
            goto fail;
        }
    }
    if (regions) {
        v->n_regions = n_regions;
        if (!(v->regions = malloc((size_t)(n_regions ? n_regions : 1) * sizeof *regions))) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(v->regions, regions, (size_t)n_regions * sizeof *regions);
        int saved = hts_get_log_level();
        hts_set_log_level(HTS_LOG_OFF); /* no index is not an error: the whole file is read */
        if (fmt == bcf)
            v->idx = bcf_index_load3(path, NULL, HTS_IDX_SILENT_FAIL);
        else if (hts_get_format(v->fp)->compression == bgzf)
            v->tbx = tbx_index_load3(path, NULL, HTS_IDX_SILENT_FAIL);
        hts_set_log_level(saved);
        if ((v->tbx || v->idx) && (rc = plan_queries(v)) < 0)
            goto fail;
        if (!v->tbx && !v->idx)
            iso_info("%s: no index: reading the whole file for the regions", path);
    }
    *out = v;
    return ISO_OK;
fail:
    iso_vcf_close(v);
    return rc;
}

/* Whether [pos, end) overlaps a region (binary search over the sorted regions). */
static int in_regions(const iso_vcf *v, const char *chrom, int64_t pos, int64_t end)
{
    int lo = 0, hi = v->n_regions;
    while (lo < hi) { /* first region not before (chrom, pos) by its end */
        int mid = (lo + hi) / 2, c = strcmp(v->regions[mid].chrom, chrom);
        if (c < 0 || (c == 0 && v->regions[mid].end <= pos))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n_regions && !strcmp(v->regions[lo].chrom, chrom) && v->regions[lo].start < end;
}

/* The next raw record: 0 at the end, 1, or < 0. */
static int read_raw(iso_vcf *v, bcf1_t *b)
{
    if (!v->queries) {
        int r = bcf_read(v->fp, v->hdr, b);
        BGZF *z = hts_get_bgzfp(v->fp);
        if (z && z->errcode) /* htslib ends a truncated or corrupt file as if at its end, after a partial line */
            return -1;
        return r == 0 ? 1 : r == -1 ? 0 : -1;
    }
    for (;;) {
        if (!v->itr) {
            if (v->next_query == v->n_queries)
                return 0;
            const query *q = &v->queries[v->next_query++];
            v->itr = v->tbx ? tbx_itr_queryi(v->tbx, q->tid, q->start, q->end)
                            : bcf_itr_queryi(v->idx, q->tid, q->start, q->end);
            if (!v->itr)
                return -1;
        }
        int r = v->tbx ? tbx_itr_next(v->fp, v->tbx, v->itr, &v->line) : bcf_itr_next(v->fp, v->itr, b);
        if (r >= 0 && v->tbx)
            r = vcf_parse1(&v->line, v->hdr, b) == 0 ? 0 : -2;
        if (r < -1)
            return -1;
        if (r == -1) {
            hts_itr_destroy(v->itr);
            v->itr = NULL;
            continue;
        }
        /* A record overlapping the previous query of its contig was returned by it. */
        const query *q = &v->queries[v->next_query - 1], *prev = v->next_query > 1 ? q - 1 : NULL;
        if (prev && prev->tid == q->tid && b->pos < prev->end)
            continue;
        return 1;
    }
}

static int valid_bases(const char *s)
{
    for (; *s; s++)
        if (!strchr("ACGTN", *s))
            return 0;
    return 1;
}

/* REF against the FASTA: equal bases, an N in REF matching any. */
static int ref_matches(iso_vcf *v, const char *chrom, int64_t pos, const char *ref, int *match)
{
    int64_t len = (int64_t)strlen(ref), clen = iso_fasta_contig_len(v->fa, chrom);
    *match = 0;
    if (pos + len > clen)
        return ISO_OK;
    char *seq;
    int rc = iso_fasta_fetch(v->fa, chrom, pos, pos + len, &seq);
    if (rc != ISO_OK)
        return rc;
    *match = 1;
    for (int64_t i = 0; i < len; i++)
        if (ref[i] != 'N' && ref[i] != toupper((unsigned char)seq[i])) /* the FASTA may be soft-masked */
            *match = 0;
    free(seq);
    return ISO_OK;
}

/* Per sample: the two haplotypes' alleles (a haploid call counts on both), and whether it is unphased het. */
static int decode_genotypes(iso_vcf *v, iso_vcf_record *r)
{
    int ns = bcf_hdr_nsamples(v->hdr), n = bcf_get_genotypes(v->hdr, r->raw->b, &v->gt, &v->gt_cap);
    r->gt = malloc((size_t)ns * 2);
    r->unphased = calloc((size_t)ns, 1);
    if (!r->gt || !r->unphased)
        return iso_error(ISO_ENOMEM, "out of memory");
    int ploidy = n > 0 ? n / ns : 0;
    for (int s = 0; s < ns; s++) {
        int8_t a[2] = {-1, -1};
        int phased = 1;
        for (int k = 0; k < 2 && k < ploidy; k++) {
            int32_t g = v->gt[s * ploidy + k];
            if (g == bcf_int32_vector_end) {
                a[1] = a[0]; /* haploid */
                break;
            }
            int allele = bcf_gt_is_missing(g) ? -1 : bcf_gt_allele(g);
            if (allele > r->n_alt) /* bcftools consensus refuses it too ("too few alts") */
                return iso_error(ISO_EFORMAT, "%s: record %lld (%s:%lld): sample %s: GT allele %d, but the record has "
                                 "%d ALT allele%s", v->path, (long long)v->read, r->vcf_chrom, (long long)r->pos + 1,
                                 v->hdr->samples[s], allele, r->n_alt, r->n_alt == 1 ? "" : "s");
            if (allele > INT8_MAX) /* r->gt holds int8_t: a larger index read as missing */
                return iso_error(ISO_EINVAL, "%s: record %lld (%s:%lld): sample %s: GT allele %d: haplotypes take "
                                 "alleles 1 to %d only", v->path, (long long)v->read, r->vcf_chrom,
                                 (long long)r->pos + 1, v->hdr->samples[s], allele, INT8_MAX);
            a[k] = (int8_t)allele;
            if (k == 1 && !bcf_gt_is_phased(g))
                phased = 0;
        }
        if (ploidy == 1)
            a[1] = a[0];
        r->gt[2 * s] = a[0];
        r->gt[2 * s + 1] = a[1];
        r->unphased[s] = !phased && a[0] != a[1];
    }
    return ISO_OK;
}

/* Splits the raw record into alleles, with the notes of those that cannot be scored. */
static int make_record(iso_vcf *v, iso_vcf_record *r)
{
    bcf1_t *b = r->raw->b;
    if (bcf_unpack(b, BCF_UN_STR) < 0 || b->n_allele < 1)
        return iso_error(ISO_EFORMAT, "%s: record %lld (%s:%lld): cannot decode its alleles", v->path,
                         (long long)v->read, bcf_seqname_safe(v->hdr, b), (long long)b->pos + 1);
    r->vcf_chrom = bcf_seqname_safe(v->hdr, b);
    r->chrom = iso_chrom_alias_map(v->alias, r->vcf_chrom);
    r->id = b->d.id;
    r->pos = b->pos;
    size_t total = 0;
    for (int i = 0; i < b->n_allele; i++)
        total += strlen(b->d.allele[i]) + 1;
    char *at = r->raw->bases = malloc(total);
    r->n_alt = b->n_allele - 1;
    r->alt = calloc((size_t)(r->n_alt ? r->n_alt : 1), sizeof *r->alt);
    if (!at || !r->alt)
        return iso_error(ISO_ENOMEM, "out of memory");
    char **upper = malloc((size_t)b->n_allele * sizeof *upper);
    if (!upper)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; i < b->n_allele; i++) {
        upper[i] = at;
        for (const char *s = b->d.allele[i]; *s; s++)
            *at++ = (char)toupper((unsigned char)*s);
        *at++ = '\0';
    }
    r->ref = b->d.allele[0];
    r->end = r->pos + (int64_t)strlen(upper[0]);
    unsigned record_note = 0;
    int match = 0, rc = ISO_OK;
    if (iso_fasta_contig_len(v->fa, r->chrom) < 0)
        record_note = ISO_NOTE_CONTIG;
    else if (!valid_bases(upper[0]) || ((rc = ref_matches(v, r->chrom, r->pos, upper[0], &match)) == ISO_OK && !match))
        record_note = ISO_NOTE_REF_MISMATCH;
    for (int i = 0; rc == ISO_OK && i < r->n_alt; i++) {
        iso_vcf_allele *a = &r->alt[i];
        a->alt = b->d.allele[i + 1];
        if (a->alt[0] == '<' || strchr(a->alt, '[') || strchr(a->alt, ']') || !strcmp(a->alt, "*") ||
            !valid_bases(upper[i + 1]))
            a->note = ISO_NOTE_SYMBOLIC;
        else if (record_note)
            a->note = record_note;
        else if ((a->edit = iso_allele_trim(r->pos, upper[0], upper[i + 1])).len == 0 && a->edit.end == a->edit.start)
            a->note = ISO_NOTE_NO_ALT; /* ALT equal to REF */
        r->notes |= a->note;
    }
    if (r->n_alt == 0)
        r->notes = ISO_NOTE_NO_ALT | record_note;
    free(upper);
    return rc;
}

/* bcftools reads a contig or INFO/FILTER/FORMAT tag missing from the header, which htslib then declares with a
 * default type (String for a tag): say so once per name (the header has it from then on) and go on. */
static void warn_undeclared(iso_vcf *v, bcf1_t *b, int nhrec)
{
    int named = 0;
    for (int i = nhrec; i < v->hdr->nhrec; i++) {
        bcf_hrec_t *h = v->hdr->hrec[i];
        int id = bcf_hrec_find_key(h, "ID");
        kstring_t line = {0};
        if (id < 0 || bcf_hrec_format(h, &line) < 0 || !line.l) {
            free(line.s);
            continue;
        }
        line.s[line.l - 1] = '\0'; /* its newline */
        iso_warn("%s: record %lld (%s:%lld): %s '%s' is not declared in the header; read as if declared %s", v->path,
                 (long long)v->read, bcf_seqname_safe(v->hdr, b), (long long)b->pos + 1, h->key, h->vals[id],
                 line.s);
        free(line.s);
        named++;
    }
    if (!named)
        iso_warn("%s: record %lld (%s:%lld) uses a contig or tag the header does not declare", v->path,
                 (long long)v->read, bcf_seqname_safe(v->hdr, b), (long long)b->pos + 1);
    b->errcode &= ~(BCF_ERR_CTG_UNDEF | BCF_ERR_TAG_UNDEF); /* handled: not an error for what reads it next */
}

int iso_vcf_next(iso_vcf *v, iso_vcf_record **out)
{
    *out = NULL;
    for (;;) {
        iso_vcf_record *r = calloc(1, sizeof *r);
        if (!r || !(r->raw = calloc(1, sizeof *r->raw)) || !(r->raw->b = bcf_init())) {
            iso_vcf_record_free(r);
            return iso_error(ISO_ENOMEM, "out of memory");
        }
        int nhrec = v->hdr->nhrec; /* htslib declares an undeclared contig or tag itself, as a new header line */
        int got = read_raw(v, r->raw->b);
        if (got <= 0) {
            iso_vcf_record_free(r);
            return got == 0 ? 0
                            : iso_error(ISO_EFORMAT, "%s: cannot read record %lld (malformed or truncated?)", v->path,
                                        (long long)v->read + 1);
        }
        v->read++;
        bcf1_t *b = r->raw->b;
        if (b->errcode & (BCF_ERR_CTG_UNDEF | BCF_ERR_TAG_UNDEF))
            warn_undeclared(v, b, nhrec);
        if (b->errcode || b->pos < 0) {
            int rc = iso_error(ISO_EFORMAT, "%s: record %lld (%s:%lld) is malformed (%s)", v->path,
                               (long long)v->read, bcf_seqname_safe(v->hdr, b), (long long)b->pos + 1,
                               b->pos < 0 ? "POS must be 1 or more" : "htslib could not parse it");
            iso_vcf_record_free(r);
            return rc;
        }
        if (v->regions && !v->queries &&
            !in_regions(v, iso_chrom_alias_map(v->alias, bcf_seqname_safe(v->hdr, b)), b->pos,
                        b->pos + (b->rlen > 0 ? b->rlen : 1))) {
            iso_vcf_record_free(r);
            continue;
        }
        int rc = make_record(v, r);
        if (rc == ISO_OK && v->genotypes)
            rc = bcf_unpack(b, BCF_UN_FMT) < 0 ? iso_error(ISO_EFORMAT, "%s: record %lld: cannot decode FORMAT",
                                                          v->path, (long long)v->read)
                                              : decode_genotypes(v, r);
        if (rc != ISO_OK) {
            iso_vcf_record_free(r);
            return rc;
        }
        r->ordinal = v->ordinal++;
        *out = r;
        return 1;
    }
}

void iso_vcf_record_free(iso_vcf_record *r)
{
    if (!r)
        return;
    if (r->raw) {
        if (r->raw->b)
            bcf_destroy(r->raw->b);
        free(r->raw->bases);
        free(r->raw);
    }
    free(r->alt);
    free(r->gt);
    free(r->unphased);
    free(r);
}
