/* GTF (GENCODE, Ensembl, RefSeq) and GFF3 reader: features are grouped per transcript while reading, then each
 * transcript is checked and normalised (sorted exons, CDS with its stop codon, phase, TSS, flags). */
#include "isoformer/annotation.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/khash.h>

#include "isoformer/io.h"
#include "isoformer/sequences.h"

KHASH_MAP_INIT_STR(ids, size_t)

typedef struct {
    iso_interval iv;
    int phase; /* CDS only; -1 when '.' */
    long line;
} feature;

typedef struct {
    feature *v;
    int n, cap;
} feature_vec;

/* A transcript while its features are being collected. */
typedef struct {
    feature_vec exons, cds, start_codons, stop_codons, sec;
    int cds_start_nf, cds_end_nf;
    int slippage;        /* a CDS line's exception=ribosomal slippage: its CDS segments may overlap */
    int transl_table;    /* of its CDS lines (0: none given) */
    long transl_line;    /* the line that gave it */
    int contig_code;     /* genetic code by contig name, as the annotation or the FASTA names it */
    char *key;           /* what features name the transcript by: GTF transcript_id, GFF3 ID */
    char *parent;        /* GFF3: the gene ID the transcript names as Parent */
    char *transcript_id; /* GFF3: a transcript_id attribute (Ensembl), reported instead of the ID */
    int shared_id;       /* GFF3: another transcript has the same transcript_id: this one keeps its ID */
} tx_build;

typedef struct {
    char *gene_id, *name; /* GFF3 gene line's gene_id (or NULL) and gene_name or Name */
    char *biotype;        /* its gene_biotype, biotype or gene_type: RefSeq gives it only there */
} gene_info;

typedef struct {
    iso_annotation pub; /* first, so an iso_annotation * is also an annotation_impl * */
    khash_t(ids) *by_id, *by_unversioned;
} annotation_impl;

typedef struct {
    const char *path;
    const iso_chrom_alias *alias;
    annotation_impl *ann;
    tx_build *build;
    size_t cap;
    int gff3;
    int has_codon_features; /* some transcript has start_codon/stop_codon lines: a missing one is meaningful */
    khash_t(ids) *by_key;   /* tx_build.key -> transcript index */
    khash_t(ids) *genes;    /* GFF3 gene ID -> index into gene */
    gene_info *gene;
    size_t n_genes, cap_genes;
} parser;

enum { COL_SEQID, COL_SOURCE, COL_TYPE, COL_START, COL_END, COL_SCORE, COL_STRAND, COL_PHASE, COL_ATTR, N_COLS };

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return ISO_OK;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * elem);
    if (!p)
        return ISO_ENOMEM;
    *v = p;
    *cap = n;
    return ISO_OK;
}

static int feature_push(feature_vec *fv, feature f)
{
    size_t cap = (size_t)fv->cap;
    if (grow((void **)&fv->v, &cap, (size_t)fv->n + 1, sizeof *fv->v) < 0)
        return ISO_ENOMEM;
    fv->cap = (int)cap;
    fv->v[fv->n++] = f;
    return ISO_OK;
}

static void build_free(tx_build *b)
{
    free(b->exons.v);
    free(b->cds.v);
    free(b->start_codons.v);
    free(b->stop_codons.v);
    free(b->sec.v);
    free(b->key);
    free(b->parent);
    free(b->transcript_id);
}

static void transcript_free(iso_transcript *t)
{
    free(t->transcript_id);
    free(t->gene_id);
    free(t->gene_name);
    free(t->biotype);
    free(t->chrom);
    free(t->exons);
    free(t->cds);
    free(t->sec_pos);
}

void iso_annotation_free(iso_annotation *a)
{
    if (!a)
        return;
    annotation_impl *impl = (annotation_impl *)a;
    for (size_t i = 0; i < a->n; i++)
        transcript_free(&a->tx[i]);
    if (impl->by_unversioned)
        for (khiter_t k = kh_begin(impl->by_unversioned); k != kh_end(impl->by_unversioned); k++)
            if (kh_exist(impl->by_unversioned, k))
                free((char *)kh_key(impl->by_unversioned, k));
    kh_destroy(ids, impl->by_id);
    kh_destroy(ids, impl->by_unversioned);
    free(a->tx);
    free(a->path);
    free(impl);
}

/* Length of id without a trailing ".N" version. */
/* The id without its version: ENST00000381192.10 -> ENST00000381192, and GENCODE's pseudoautosomal copies
 * ENST00000381192.10_PAR_Y -> ENST00000381192_PAR_Y (the version sits before the suffix). malloc'd. */
static char *unversioned_id(const char *id)
{
    static const char par[] = "_PAR_Y";
    size_t len = strlen(id);
    size_t suffix = len > sizeof par - 1 && !strcmp(id + len - (sizeof par - 1), par) ? sizeof par - 1 : 0;
    size_t body = len - suffix, cut = body;
    while (cut > 0 && isdigit((unsigned char)id[cut - 1]))
        cut--;
    cut = cut > 0 && cut < body && id[cut - 1] == '.' ? cut - 1 : body; /* ".digits" at the end, or no version */
    char *bare = malloc(cut + suffix + 1);
    if (bare) {
        memcpy(bare, id, cut);
        memcpy(bare + cut, id + body, suffix + 1);
    }
    return bare;
}

long iso_annotation_find(const iso_annotation *a, const char *transcript_id)
{
    const annotation_impl *impl = (const annotation_impl *)a;
    khiter_t k = kh_get(ids, impl->by_id, transcript_id);
    if (k != kh_end(impl->by_id))
        return (long)kh_val(impl->by_id, k);
    char *bare = unversioned_id(transcript_id);
    if (!bare)
        return -1;
    k = kh_get(ids, impl->by_unversioned, bare);
    free(bare);
    return k != kh_end(impl->by_unversioned) ? (long)kh_val(impl->by_unversioned, k) : -1;
}

/* ---- attributes ---- */

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* GFF3 escapes ;=&, and control characters in values as %XX. */
static void percent_decode(char *s)
{
    char *out = s;
    for (; *s; s++) {
        int hi, lo;
        if (s[0] == '%' && (hi = hex_digit(s[1])) >= 0 && (lo = hex_digit(s[2])) >= 0) {
            *out++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* The next attribute at *p of a GTF (key "value"; key value;) or GFF3 (key=value;key=value) column: its key and
 * its value (unquoted, trailing spaces cut); 0 at the end of the column. */
static int attr_next(const char **p, int gff3, const char **k, size_t *klen, const char **v, size_t *vlen)
{
    const char *q = *p;
    while (*q == ' ' || *q == ';')
        q++;
    if (!*q)
        return 0;
    *k = q;
    while (*q && *q != ';' && *q != (gff3 ? '=' : ' '))
        q++;
    *klen = (size_t)(q - *k);
    if (*q == (gff3 ? '=' : ' '))
        q++;
    while (!gff3 && *q == ' ')
        q++;
    *v = q;
    if (!gff3 && *q == '"') {
        *v = ++q;
        while (*q && *q != '"')
            q++;
        *vlen = (size_t)(q - *v);
        if (*q)
            q++;
    } else {
        while (*q && *q != ';')
            q++;
        *vlen = (size_t)(q - *v);
        while (*vlen && (*v)[*vlen - 1] == ' ')
            (*vlen)--;
    }
    while (*q && *q != ';')
        q++;
    *p = q;
    return 1;
}

/* Copies the value of key from the attribute column into a new string; NULL when absent (or out of memory, which
 * the caller then treats as absent). */
static char *attr_get(const char *attrs, const char *key, int gff3)
{
    const char *p = attrs, *k, *v;
    size_t klen, vlen, want = strlen(key);
    while (attr_next(&p, gff3, &k, &klen, &v, &vlen))
        if (klen == want && !strncmp(k, key, klen))
            return strndup(v, vlen);
    return NULL;
}

/* Which of tags[0..n) (at most 8) the tag attributes hold, as bit i for tags[i], in one pass over the column:
 * GENCODE GTF gives one tag "..." per value (several per line), GFF3 a list (tag=basic,cds_start_NF, items
 * %-escaped). Only tag values count: a Note or description that mentions cds_start_NF does not. */
static unsigned attr_tags(const char *attrs, int gff3, const char *const *tags, int n_tags)
{
    const char *p = attrs, *k, *v;
    size_t klen, vlen;
    unsigned found = 0;
    while (attr_next(&p, gff3, &k, &klen, &v, &vlen)) {
        if (klen != 3 || strncmp(k, "tag", 3))
            continue;
        for (const char *item = v, *end = v + vlen; item <= end;) {
            const char *comma = gff3 ? memchr(item, ',', (size_t)(end - item)) : NULL;
            size_t n = (size_t)((comma ? comma : end) - item);
            char *decoded = gff3 ? strndup(item, n) : NULL;
            if (decoded)
                percent_decode(decoded);
            for (int t = 0; t < n_tags; t++)
                if (decoded ? !strcmp(decoded, tags[t]) : n == strlen(tags[t]) && !strncmp(item, tags[t], n))
                    found |= 1u << t;
            free(decoded);
            item += n + 1;
        }
    }
    return found;
}

/* gffread's rule, on every attribute: a quoted GTF value closes its quote before the next attribute
 * ('transcript_id "t1;' is refused, not read as the id "t1;"), and no quote appears elsewhere. */
static int check_gtf_quotes(const parser *ps, const char *attrs, long line)
{
    const char *p = attrs;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *key = p;
        while (*p && *p != ' ' && *p != ';' && *p != '"')
            p++;
        int key_len = (int)(p - key), bad = 0;
        while (*p == ' ')
            p++;
        if (*p == '"') {
            const char *close = strchr(p + 1, '"');
            if (!(bad = !close)) {
                for (p = close + 1; *p == ' '; p++)
                    ;
                bad = *p && *p != ';';
            }
        } else {
            while (*p && *p != ';' && *p != '"')
                p++;
            bad = *p == '"';
        }
        if (bad)
            return iso_error(ISO_EFORMAT, "%s:%ld: attribute '%.*s' has an unbalanced '\"' (expected key \"value\"; "
                                          "with the quotes closed)", ps->path, line, key_len, key);
    }
    return ISO_OK;
}

/* attr_get with GFF3 escapes decoded (lists such as Parent=a,b must be split before decoding). */
static char *attr_text(const char *attrs, const char *key, int gff3)
{
    char *v = attr_get(attrs, key, gff3);
    if (gff3 && v)
        percent_decode(v);
    return v;
}

/* First of several attribute keys present. */
static char *attr_first(const char *attrs, int gff3, const char *const *keys)
{
    for (; *keys; keys++) {
        char *v = attr_text(attrs, *keys, gff3);
        if (v)
            return v;
    }
    return NULL;
}

/* The first item of a GFF3 list value, decoded (an escaped ',' is not a separator). GFF3 lets a transcript name
 * several genes as Parent (Parent=g1,g2); gffread files it under the first, and so do we. */
static char *attr_first_item(const char *attrs, const char *key)
{
    char *v = attr_get(attrs, key, 1);
    if (v) {
        v[strcspn(v, ",")] = '\0';
        percent_decode(v);
    }
    return v;
}

/* ---- transcripts ---- */

/* Sets *dst to value unless it is already set (then value is freed). */
static void set_if_empty(char **dst, char *value)
{
    if (*dst)
        free(value);
    else
        *dst = value;
}

/* The transcript with this id, created (with contig and strand) at its first feature; checks that every
 * feature of a transcript agrees on contig and strand. */
static int transcript_get(parser *ps, const char *id, const char *contig, char strand, long line, size_t *idx)
{
    annotation_impl *impl = ps->ann;
    iso_annotation *a = &impl->pub;
    khiter_t k = kh_get(ids, ps->by_key, id);
    if (k != kh_end(ps->by_key)) {
        iso_transcript *t = &a->tx[kh_val(ps->by_key, k)];
        const char *mapped = iso_chrom_alias_map(ps->alias, contig);
        if (strcmp(t->chrom, mapped) || t->strand != strand)
            return iso_error(ISO_EFORMAT,
                             "%s:%ld: transcript '%s' is on %s(%c) here but on %s(%c) at line %ld; every feature of a "
                             "transcript must share contig and strand",
                             ps->path, line, id, mapped, strand, t->chrom, t->strand, t->line);
        *idx = kh_val(ps->by_key, k);
        return ISO_OK;
    }
    size_t cap = ps->cap;
    if (grow((void **)&a->tx, &cap, a->n + 1, sizeof *a->tx) < 0 ||
        grow((void **)&ps->build, &ps->cap, a->n + 1, sizeof *ps->build) < 0)
        return iso_error(ISO_ENOMEM, "%s:%ld: out of memory", ps->path, line);
    iso_transcript *t = &a->tx[a->n];
    memset(t, 0, sizeof *t);
    memset(&ps->build[a->n], 0, sizeof ps->build[a->n]);
    t->strand = strand;
    t->line = line;
    tx_build *b = &ps->build[a->n];
    int absent = -1;
    if ((t->transcript_id = strdup(id)) && (t->chrom = strdup(iso_chrom_alias_map(ps->alias, contig))) &&
        (b->key = strdup(id)))
        k = kh_put(ids, ps->by_key, b->key, &absent);
    if (absent < 0) {
        transcript_free(t);
        build_free(b);
        return iso_error(ISO_ENOMEM, "%s:%ld: out of memory", ps->path, line);
    }
    kh_val(ps->by_key, k) = a->n;
    b->contig_code = iso_contig_genetic_code(contig) == 1 ? iso_contig_genetic_code(t->chrom) : 2;
    *idx = a->n++;
    return ISO_OK;
}

/* Fills names and biotype from a feature's attributes (GTF: every line repeats them; GFF3: the transcript line).
 * A transcript id under two gene ids is an error: its features were merged into one transcript of the first gene. */
static int transcript_describe(parser *ps, iso_transcript *t, tx_build *b, const char *attrs, long line)
{
    /* GFF3 transcript lines name the transcript in Name: the gene's name comes from gene_name or the gene line */
    static const char *const gene_id_keys[] = {"gene_id", "geneID", NULL};
    static const char *const name_keys[] = {"gene_name", "gene", NULL};
    static const char *const type_keys[] = {"transcript_type", "transcript_biotype", "gene_type", "gene_biotype",
                                            "biotype", NULL};
    char *gene = attr_first(attrs, ps->gff3, gene_id_keys);
    if (gene && t->gene_id && strcmp(gene, t->gene_id)) {
        int rc = iso_error(ISO_EFORMAT, "%s:%ld: transcript '%s' is in gene '%s' here but in gene '%s' at line %ld; "
                                        "transcript ids must be unique across genes",
                           ps->path, line, t->transcript_id, gene, t->gene_id, t->line);
        free(gene);
        return rc;
    }
    set_if_empty(&t->gene_id, gene);
    if (!t->gene_name)
        t->gene_name = attr_first(attrs, ps->gff3, name_keys);
    if (!t->biotype)
        t->biotype = attr_first(attrs, ps->gff3, type_keys);
    if (ps->gff3) {
        if (!b->parent)
            b->parent = attr_first_item(attrs, "Parent");
        if (!b->transcript_id)
            b->transcript_id = attr_text(attrs, "transcript_id", 1);
    }
    static const char *const nf_tags[] = {"cds_start_NF", "cds_end_NF"};
    unsigned nf = attr_tags(attrs, ps->gff3, nf_tags, 2);
    b->cds_start_nf |= nf & 1;
    b->cds_end_nf |= nf >> 1 & 1;
    return ISO_OK;
}

/* A GFF3 feature that is neither a transcript nor a segment (gene, ncRNA_gene, pseudogene, ...), kept by ID for
 * the transcripts (or exons) that name it as Parent. */
static int gene_remember(parser *ps, const char *attrs, long line)
{
    char *id = attr_text(attrs, "ID", 1);
    if (!id)
        return ISO_OK;
    gene_info g = {attr_text(attrs, "gene_id", 1),
                   attr_first(attrs, 1, (const char *const[]){"gene_name", "Name", NULL}),
                   attr_first(attrs, 1, (const char *const[]){"gene_biotype", "biotype", "gene_type", NULL})};
    int absent = -1;
    khiter_t k = 0;
    if (grow((void **)&ps->gene, &ps->cap_genes, ps->n_genes + 1, sizeof *ps->gene) == ISO_OK)
        k = kh_put(ids, ps->genes, id, &absent);
    if (absent <= 0) { /* out of memory, or a repeated gene ID: keep the first */
        free(id);
        free(g.gene_id);
        free(g.name);
        free(g.biotype);
        return absent < 0 ? iso_error(ISO_ENOMEM, "%s:%ld: out of memory", ps->path, line) : ISO_OK;
    }
    kh_val(ps->genes, k) = ps->n_genes;
    ps->gene[ps->n_genes++] = g;
    return ISO_OK;
}

/* ---- one line ---- */

static int parse_coord(const parser *ps, long line, const char *s, const char *what, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < 1)
        return iso_error(ISO_EFORMAT, "%s:%ld: expected a positive integer %s coordinate, got '%s'", ps->path, line,
                         what, s);
    *out = v;
    return ISO_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Ensembl and RefSeq have many transcript types beyond mRNA (scaRNA, Y_RNA, vault_RNA, antisense_RNA,
 * pseudogenic_transcript, V_gene_segment, ...): recognised by suffix, as gffread does, and any *transcript* type. */
static int is_transcript_type(const char *type)
{
    return ends_with(type, "RNA") || strstr(type, "transcript") || ends_with(type, "_gene_segment");
}

/* GTF: Selenocysteine; GENCODE GFF3: stop_codon_redefined_as_selenocysteine */
static int is_sec_type(const char *type)
{
    return !strcmp(type, "Selenocysteine") || !strcmp(type, "selenocysteine") ||
           !strcmp(type, "stop_codon_redefined_as_selenocysteine");
}

static int is_segment_type(const char *type)
{
    return !strcmp(type, "exon") || !strcmp(type, "CDS") || !strcmp(type, "start_codon") ||
           !strcmp(type, "stop_codon") || is_sec_type(type);
}

/* The genetic code a CDS line gives (RefSeq GFF3: transl_table=2 on mitochondrial CDS, 11 on prokaryotes'). */
static int cds_transl_table(parser *ps, tx_build *b, const char *attrs, long line)
{
    char *v = attr_get(attrs, "transl_table", ps->gff3), *end = NULL;
    if (!v)
        return ISO_OK;
    long table = strtol(v, &end, 10);
    int bad = !*v || *end || !iso_genetic_code_known((int)table) || table != (int)table;
    int rc = bad ? iso_error(ISO_EFORMAT, "%s:%ld: transl_table '%s' is not a genetic code isoformer translates with "
                                          "(NCBI tables 1-6, 9-16, 21-26, 29, 30, 32, 33; 27, 28 and 31 read a "
                                          "stop codon as an amino acid inside a gene)", ps->path, line, v)
             : b->transl_table && b->transl_table != table
                 ? iso_error(ISO_EFORMAT, "%s:%ld: transl_table %ld differs from the transl_table %d at line %ld of the "
                                          "same transcript", ps->path, line, table, b->transl_table, b->transl_line)
                 : ISO_OK;
    if (rc == ISO_OK && !b->transl_table) {
        b->transl_table = (int)table;
        b->transl_line = line;
    }
    free(v);
    return rc;
}

static int add_feature(parser *ps, const char *id, char **col, long line, int64_t start, int64_t end)
{
    const char *type = col[COL_TYPE];
    size_t idx = 0;
    int rc = transcript_get(ps, id, col[COL_SEQID], col[COL_STRAND][0], line, &idx);
    if (rc < 0)
        return rc;
    iso_transcript *t = &ps->ann->pub.tx[idx];
    tx_build *b = &ps->build[idx];
    if ((!ps->gff3 || is_transcript_type(type)) && (rc = transcript_describe(ps, t, b, col[COL_ATTR], line)) < 0)
        return rc;
    feature f = {{start - 1, end}, -1, line};
    feature_vec *dst = NULL;
    if (!strcmp(type, "exon"))
        dst = &b->exons;
    else if (!strcmp(type, "CDS")) {
        const char *ph = col[COL_PHASE];
        if (ph[0] >= '0' && ph[0] <= '2' && !ph[1])
            f.phase = ph[0] - '0';
        else if (strcmp(ph, "."))
            return iso_error(ISO_EFORMAT, "%s:%ld: expected CDS phase 0, 1, 2 or '.', got '%s'", ps->path, line, ph);
        if ((rc = cds_transl_table(ps, b, col[COL_ATTR], line)) < 0)
            return rc;
        char *exception = attr_get(col[COL_ATTR], "exception", ps->gff3);
        b->slippage |= exception && strstr(exception, "ribosomal slippage");
        free(exception);
        dst = &b->cds;
    } else if (!strcmp(type, "start_codon"))
        dst = &b->start_codons;
    else if (!strcmp(type, "stop_codon"))
        dst = &b->stop_codons;
    else if (is_sec_type(type))
        dst = &b->sec;
    if (dst == &b->start_codons || dst == &b->stop_codons)
        ps->has_codon_features = 1;
    if (dst && feature_push(dst, f) < 0)
        return iso_error(ISO_ENOMEM, "%s:%ld: out of memory", ps->path, line);
    return ISO_OK;
}

static int parse_line(parser *ps, char *text, long line)
{
    char *col[N_COLS];
    int n = 0;
    for (char *p = text;; p++) {
        if (n < N_COLS)
            col[n] = p;
        n++;
        p = strchr(p, '\t');
        if (!p)
            break;
        *p = '\0';
    }
    if (n != N_COLS)
        return iso_error(ISO_EFORMAT, "%s:%ld: expected 9 tab-separated columns (GTF/GFF3), got %d", ps->path, line,
                         n);
    int64_t start = 0, end = 0;
    int rc;
    if ((rc = parse_coord(ps, line, col[COL_START], "start", &start)) < 0 ||
        (rc = parse_coord(ps, line, col[COL_END], "end", &end)) < 0)
        return rc;
    if (start > end)
        return iso_error(ISO_EFORMAT, "%s:%ld: start %lld is after end %lld", ps->path, line, (long long)start,
                         (long long)end);
    const char *type = col[COL_TYPE];
    int segment = is_segment_type(type);
    /* GFF3 genes by any type (gene, ncRNA_gene, pseudogene, ...): whatever a transcript names as Parent */
    if (ps->gff3 && !segment && !is_transcript_type(type))
        return gene_remember(ps, col[COL_ATTR], line);
    if (!segment && !ps->gff3 && strcmp(type, "transcript"))
        return ISO_OK; /* genes, UTRs and other features carry nothing we need */
    const char *strand = col[COL_STRAND];
    if ((strand[0] != '+' && strand[0] != '-') || strand[1])
        return iso_error(ISO_EFORMAT, "%s:%ld: expected strand '+' or '-' for feature '%s', got '%s'", ps->path,
                         line, type, strand);
    if (!ps->gff3) {
        if ((rc = check_gtf_quotes(ps, col[COL_ATTR], line)) < 0)
            return rc;
        char *id = attr_get(col[COL_ATTR], "transcript_id", 0);
        if (!id || !id[0]) {
            free(id);
            return iso_error(ISO_EFORMAT, "%s:%ld: %s feature without a transcript_id attribute", ps->path, line,
                             type);
        }
        rc = add_feature(ps, id, col, line, start, end);
        free(id);
        return rc;
    }
    char *ids = attr_get(col[COL_ATTR], segment ? "Parent" : "ID", 1);
    if (!ids || !ids[0]) {
        free(ids);
        return iso_error(ISO_EFORMAT, "%s:%ld: %s feature without a%s attribute", ps->path, line, type,
                         segment ? " Parent" : "n ID");
    }
    char *save = NULL;
    rc = ISO_OK;
    for (char *id = strtok_r(ids, ",", &save); id && rc >= 0; id = strtok_r(NULL, ",", &save)) {
        percent_decode(id);
        rc = add_feature(ps, id, col, line, start, end);
    }
    free(ids);
    return rc;
}

/* ---- per-transcript normalisation ---- */

static int cmp_feature(const void *x, const void *y)
{
    const feature *a = x, *b = y;
    return a->iv.start < b->iv.start ? -1 : a->iv.start > b->iv.start;
}

static void sort_features(feature_vec *fv)
{
    if (fv->n > 1)
        qsort(fv->v, (size_t)fv->n, sizeof *fv->v, cmp_feature);
}

static int copy_intervals(const feature_vec *fv, iso_interval **out)
{
    *out = malloc((size_t)(fv->n ? fv->n : 1) * sizeof **out);
    if (!*out)
        return ISO_ENOMEM;
    for (int i = 0; i < fv->n; i++)
        (*out)[i] = fv->v[i].iv;
    return ISO_OK;
}

/* Adds the stop codon to the CDS when the annotation lists it separately (Ensembl/GENCODE, RefSeq GTF). */
static int cds_add_stop(feature_vec *cds, const feature_vec *stops)
{
    for (int s = 0; s < stops->n; s++) {
        iso_interval st = stops->v[s].iv;
        int handled = 0;
        for (int i = 0; i < cds->n && !handled; i++) {
            iso_interval *c = &cds->v[i].iv;
            if (st.start >= c->start && st.end <= c->end)
                handled = 1; /* already inside the CDS (GFF3, UCSC-derived files) */
            else if (st.start <= c->end && st.end >= c->start) {
                c->start = st.start < c->start ? st.start : c->start;
                c->end = st.end > c->end ? st.end : c->end;
                handled = 1;
            }
        }
        if (!handled && feature_push(cds, stops->v[s]) < 0)
            return ISO_ENOMEM;
    }
    sort_features(cds);
    return ISO_OK;
}

static int inside_exons(const iso_transcript *t, iso_interval iv)
{
    for (int i = 0; i < t->n_exons; i++)
        if (iv.start >= t->exons[i].start && iv.end <= t->exons[i].end)
            return 1;
    return 0;
}

/* Names go into tab-separated tables, BED and FASTA headers: a control character (a GFF3 %09 or %0A, decoded)
 * would break their columns and lines, so it is refused with the name shown escaped. */
static int check_name(const parser *ps, const iso_transcript *t, const char *what, const char *name)
{
    const char *p = name;
    while (*p && (unsigned char)*p >= 0x20 && *p != 0x7f)
        p++;
    if (!*p)
        return ISO_OK;
    char shown[256];
    size_t k = 0;
    for (const char *q = name; *q && k + 5 < sizeof shown; q++)
        k += (unsigned char)*q >= 0x20 && *q != 0x7f ? (size_t)snprintf(shown + k, sizeof shown - k, "%c", *q)
             : (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", (unsigned char)*q);
    return iso_error(ISO_EFORMAT, "%s:%ld: %s '%s' holds a control character (byte 0x%02x%s), which the TSV, BED and "
                                  "FASTA outputs cannot hold", ps->path, t->line, what, shown, (unsigned char)*p,
                     ps->gff3 ? ", from a GFF3 %-escape" : "");
}

/* Whether CDS segment cur may not follow prev. A -1 ribosomal slippage (RefSeq: PEG10, and many prokaryote genes)
 * reads the overlap's bases twice: its segments overlap, each extending the last, and are translated as given, as
 * gffread -y does; other segments must not overlap. */
static int cds_overlap_refused(iso_interval prev, iso_interval cur, int slippage)
{
    return cur.start < prev.end && (!slippage || cur.start <= prev.start || cur.end <= prev.end);
}

static int transcript_finish(parser *ps, iso_transcript *t, tx_build *b)
{
    const char *path = ps->path, *id = t->transcript_id;
    if (b->exons.n == 0 && b->cds.n == 0)
        return iso_error(ISO_EFORMAT, "%s:%ld: transcript '%s' has no exon or CDS features", path, t->line, id);
    sort_features(&b->exons);
    for (int i = 1; i < b->exons.n; i++)
        if (b->exons.v[i].iv.start < b->exons.v[i - 1].iv.end)
            return iso_error(ISO_EFORMAT, "%s:%ld: exon %lld-%lld of transcript '%s' overlaps the exon at line %ld",
                             path, b->exons.v[i].line, (long long)b->exons.v[i].iv.start + 1,
                             (long long)b->exons.v[i].iv.end, id, b->exons.v[i - 1].line);
    sort_features(&b->cds);
    for (int i = 1; i < b->cds.n; i++)
        if (cds_overlap_refused(b->cds.v[i - 1].iv, b->cds.v[i].iv, b->slippage))
            return iso_error(ISO_EFORMAT, "%s:%ld: CDS %lld-%lld of transcript '%s' overlaps the CDS at line %ld%s",
                             path, b->cds.v[i].line, (long long)b->cds.v[i].iv.start + 1,
                             (long long)b->cds.v[i].iv.end, id, b->cds.v[i - 1].line,
                             b->slippage ? " (ribosomal slippage: overlapping segments must each extend the last)"
                                         : " (only CDS lines with exception=ribosomal slippage may overlap)");
    if (b->slippage)
        t->flags |= ISO_TX_RIBOSOMAL_SLIPPAGE;
    if (b->cds.n) {
        /* phase of the 5'-most CDS line, before a stop codon can be merged into the 3' segment */
        const feature *first = t->strand == '+' ? &b->cds.v[0] : &b->cds.v[b->cds.n - 1];
        t->cds_phase = first->phase < 0 ? 0 : first->phase;
        if (cds_add_stop(&b->cds, &b->stop_codons) < 0)
            return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    }
    /* a CDS without exons (NCBI prokaryote GFF3: gene -> CDS, no mRNA or exon lines) is its own exons, stop codon
     * included, as gffread reads it */
    for (int i = 0, n = b->exons.n ? 0 : b->cds.n; i < n; i++)
        if (b->exons.n && b->cds.v[i].iv.start < b->exons.v[b->exons.n - 1].iv.end) /* slippage: one exon */
            b->exons.v[b->exons.n - 1].iv.end = b->cds.v[i].iv.end;
        else if (feature_push(&b->exons, b->cds.v[i]) < 0)
            return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    t->n_exons = b->exons.n;
    t->n_cds = b->cds.n;
    if (copy_intervals(&b->exons, &t->exons) < 0 || copy_intervals(&b->cds, &t->cds) < 0)
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < t->n_cds; i++)
        if (!inside_exons(t, t->cds[i]))
            return iso_error(ISO_EFORMAT, "%s:%ld: CDS %lld-%lld of transcript '%s' lies outside its exons", path,
                             t->line, (long long)t->cds[i].start + 1, (long long)t->cds[i].end, id);
    t->sec_pos = malloc((size_t)(b->sec.n ? b->sec.n : 1) * sizeof *t->sec_pos);
    if (!t->sec_pos)
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < b->sec.n; i++)
        t->sec_pos[i] = b->sec.v[i].iv.start;
    t->n_sec = b->sec.n;
    t->tss = t->strand == '+' ? t->exons[0].start : t->exons[t->n_exons - 1].end - 1;
    int64_t cds_len = 0;
    for (int i = 0; i < t->n_cds; i++)
        cds_len += t->cds[i].end - t->cds[i].start;
    t->transl_table = b->transl_table ? b->transl_table : b->contig_code;
    if (t->n_cds) {
        t->flags |= ISO_TX_CODING;
        if (b->cds_start_nf || t->cds_phase || (ps->has_codon_features && !b->start_codons.n))
            t->flags |= ISO_TX_NO_START_CODON;
        if (b->cds_end_nf || (ps->has_codon_features && !b->stop_codons.n))
            t->flags |= ISO_TX_NO_STOP_CODON;
        if ((cds_len - t->cds_phase) % 3)
            t->flags |= ISO_TX_CDS_PARTIAL_CODON;
    }
    if (t->n_sec)
        t->flags |= ISO_TX_SELENOCYSTEINE;
    if (ps->gff3 && b->transcript_id && !b->shared_id) {
        free(t->transcript_id);
        t->transcript_id = b->transcript_id;
        b->transcript_id = NULL;
    }
    if (ps->gff3) { /* gene ID, name and biotype from the parent gene, or from the gene itself when its exons or
                     * CDS name it as Parent (RefSeq pseudogenes and prokaryote genes without a transcript line) */
        const char *gene_key = b->parent ? b->parent : b->key;
        khiter_t k = kh_get(ids, ps->genes, gene_key), p;
        /* RefSeq's mature miRNAs name their primary transcript as Parent, whose Parent is the gene */
        if (k == kh_end(ps->genes) && b->parent && (p = kh_get(ids, ps->by_key, b->parent)) != kh_end(ps->by_key) &&
            ps->build[kh_val(ps->by_key, p)].parent) {
            gene_key = ps->build[kh_val(ps->by_key, p)].parent;
            k = kh_get(ids, ps->genes, gene_key);
        }
        const gene_info *g = k != kh_end(ps->genes) ? &ps->gene[kh_val(ps->genes, k)] : NULL;
        if (b->parent || g)
            set_if_empty(&t->gene_id, strdup(g && g->gene_id ? g->gene_id : gene_key));
        if (g && g->name)
            set_if_empty(&t->gene_name, strdup(g->name));
        if (g && g->biotype)
            set_if_empty(&t->biotype, strdup(g->biotype));
    }
    if ((!t->gene_id && !(t->gene_id = strdup(""))) || (!t->biotype && !(t->biotype = strdup(""))) ||
        (!t->gene_name && !(t->gene_name = strdup(t->gene_id))))
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    int rc;
    if ((rc = check_name(ps, t, "transcript id", t->transcript_id)) < 0 ||
        (rc = check_name(ps, t, "gene id", t->gene_id)) < 0 || (rc = check_name(ps, t, "gene name", t->gene_name)) < 0 ||
        (rc = check_name(ps, t, "biotype", t->biotype)) < 0)
        return rc;
    return ISO_OK;
}

/* Indexes the transcript ids, which must be unique: an id listed twice could name only the first. */
static int index_ids(annotation_impl *impl)
{
    const char *path = impl->pub.path;
    for (size_t i = 0; i < impl->pub.n; i++) {
        const char *id = impl->pub.tx[i].transcript_id;
        int absent;
        khiter_t k = kh_put(ids, impl->by_id, id, &absent);
        if (absent < 0)
            return iso_error(ISO_ENOMEM, "%s: out of memory", path);
        if (!absent)
            return iso_error(ISO_EFORMAT, "%s:%ld: transcript '%s' is listed again (first at line %ld)", path,
                             impl->pub.tx[i].line, id, impl->pub.tx[kh_val(impl->by_id, k)].line);
        kh_val(impl->by_id, k) = i;
        char *bare = unversioned_id(id);
        k = bare ? kh_put(ids, impl->by_unversioned, bare, &absent) : kh_end(impl->by_unversioned);
        if (k == kh_end(impl->by_unversioned) || absent < 0) {
            free(bare);
            return iso_error(ISO_ENOMEM, "%s: out of memory", path);
        }
        if (absent)
            kh_val(impl->by_unversioned, k) = i;
        else
            free(bare);
    }
    return ISO_OK;
}

/* GFF3 when the header says so or the first feature's attributes use key=value. */
static int looks_gff3(const char *line)
{
    if (!strncmp(line, "##gff-version", 13))
        return strstr(line, "3") != NULL;
    const char *attrs = line;
    for (int i = 0; i < COL_ATTR && attrs; i++) {
        attrs = strchr(attrs, '\t');
        if (attrs)
            attrs++;
    }
    if (!attrs)
        return 0;
    const char *eq = strchr(attrs, '='), *quote = strchr(attrs, '"'), *space = strchr(attrs, ' ');
    return eq && (!quote || eq < quote) && (!space || eq < space);
}

static void parser_free(parser *ps)
{
    for (size_t i = 0; i < ps->ann->pub.n; i++)
        build_free(&ps->build[i]);
    free(ps->build);
    if (ps->genes)
        for (khiter_t k = kh_begin(ps->genes); k != kh_end(ps->genes); k++)
            if (kh_exist(ps->genes, k))
                free((char *)kh_key(ps->genes, k));
    kh_destroy(ids, ps->genes);
    kh_destroy(ids, ps->by_key);
    for (size_t i = 0; i < ps->n_genes; i++) {
        free(ps->gene[i].gene_id);
        free(ps->gene[i].name);
        free(ps->gene[i].biotype);
    }
    free(ps->gene);
}

static int read_lines(parser *ps, iso_lines *lr)
{
    const char *line;
    size_t len;
    int rc, format_known = 0;
    char *copy = NULL;
    size_t copy_cap = 0;
    while ((rc = iso_lines_next(lr, &line, &len)) > 0) {
        /* GFF3 may end with the genome: "##FASTA", or just its first '>' header (no seqid starts with '>') */
        if (!strncmp(line, "##FASTA", 7) || line[0] == '>')
            break;
        if (len == 0 || (line[0] == '#' && strncmp(line, "##gff-version", 13)))
            continue;
        if (!format_known) {
            ps->gff3 = looks_gff3(line);
            format_known = 1;
        }
        if (line[0] == '#')
            continue;
        if (grow((void **)&copy, &copy_cap, len + 1, 1) < 0) {
            rc = iso_error(ISO_ENOMEM, "%s: out of memory", ps->path);
            break;
        }
        memcpy(copy, line, len + 1);
        if ((rc = parse_line(ps, copy, iso_lines_lineno(lr))) < 0)
            break;
    }
    free(copy);
    return rc;
}

/* RefSeq GFF3 gives the X and Y copies of a pseudoautosomal transcript one transcript_id (NM_000451.4) and two IDs
 * (rna-NM_000451.4, rna-NM_000451.4-2): transcripts whose transcript_id is not their own keep their ID, as
 * gffread names them, so that each can be told apart and selected. */
static int mark_shared_ids(parser *ps)
{
    khash_t(ids) *seen = kh_init(ids);
    int rc = seen ? ISO_OK : ISO_ENOMEM;
    size_t n_shared = 0, example = 0;
    for (size_t i = 0; rc == ISO_OK && i < ps->ann->pub.n; i++) {
        tx_build *b = &ps->build[i];
        int absent;
        khiter_t k = kh_put(ids, seen, b->transcript_id ? b->transcript_id : b->key, &absent);
        if (absent < 0)
            rc = ISO_ENOMEM;
        else if (absent)
            kh_val(seen, k) = i;
        else {
            tx_build *first = &ps->build[kh_val(seen, k)];
            example = n_shared ? example : kh_val(seen, k);
            n_shared += !first->shared_id + !b->shared_id;
            first->shared_id = b->shared_id = 1;
        }
    }
    kh_destroy(ids, seen);
    if (rc < 0)
        return iso_error(rc, "%s: out of memory", ps->path);
    if (n_shared)
        iso_warn("%s:%ld: %zu transcripts share their transcript_id with another (the first: '%s'): they are named by "
                 "their ID instead", ps->path, ps->ann->pub.tx[example].line, n_shared,
                 ps->build[example].transcript_id ? ps->build[example].transcript_id : ps->build[example].key);
    return ISO_OK;
}

int iso_annotation_read(const char *path, const iso_chrom_alias *alias, iso_annotation **out)
{
    *out = NULL;
    annotation_impl *impl = calloc(1, sizeof *impl);
    parser ps = {.path = path, .alias = alias, .ann = impl};
    if (!impl || !(impl->pub.path = strdup(path)) || !(impl->by_id = kh_init(ids)) ||
        !(impl->by_unversioned = kh_init(ids)) || !(ps.genes = kh_init(ids)) || !(ps.by_key = kh_init(ids))) {
        kh_destroy(ids, ps.genes);
        kh_destroy(ids, ps.by_key);
        iso_annotation_free(impl ? &impl->pub : NULL);
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    }
    iso_lines *lr = iso_lines_open(path);
    int rc = lr ? read_lines(&ps, lr) : iso_last_status();
    long last_line = lr ? iso_lines_lineno(lr) : 0;
    iso_lines_close(lr);
    if (rc >= 0 && impl->pub.n == 0)
        rc = iso_error(ISO_EFORMAT, "%s:%ld: no transcripts found (empty file, or no exon/CDS features with %s)", path,
                       last_line, ps.gff3 ? "Parent" : "transcript_id");
    if (rc >= 0 && ps.gff3)
        rc = mark_shared_ids(&ps);
    for (size_t i = 0; rc >= 0 && i < impl->pub.n; i++)
        rc = transcript_finish(&ps, &impl->pub.tx[i], &ps.build[i]);
    if (rc >= 0)
        rc = index_ids(impl);
    parser_free(&ps);
    if (rc < 0) {
        iso_annotation_free(&impl->pub);
        return rc;
    }
    *out = &impl->pub;
    return ISO_OK;
}

static int dup_intervals(iso_interval **dst, const iso_interval *src, int n)
{
    *dst = malloc((size_t)(n ? n : 1) * sizeof **dst);
    if (*dst && n)
        memcpy(*dst, src, (size_t)n * sizeof **dst);
    return *dst ? ISO_OK : ISO_ENOMEM;
}

/* A deep copy of src, checked, with its TSS and coding flag derived as the reader derives them. */
static int transcript_copy(const char *path, const iso_transcript *src, iso_transcript *t)
{
    long line = src->line;
    if (!src->transcript_id || !src->chrom || (src->strand != '+' && src->strand != '-') || src->n_exons < 1 ||
        src->n_cds < 0 || src->n_sec < 0)
        return iso_error(ISO_EINVAL, "%s:%ld: expected a transcript id, a contig, strand '+' or '-' and exons",
                         path, line);
    for (int i = 0; i < src->n_exons; i++)
        if (src->exons[i].start < 0 || src->exons[i].end <= src->exons[i].start ||
            (i && src->exons[i].start < src->exons[i - 1].end))
            return iso_error(ISO_EINVAL, "%s:%ld: transcript '%s': exons must be non-empty, sorted and not overlap",
                             path, line, src->transcript_id);
    /* the CDS as the reader leaves it: translation reads it with its phase (a negative one read before the buffer) */
    if ((src->n_cds && !src->cds) || (src->n_sec && !src->sec_pos) || src->cds_phase < 0 || src->cds_phase > 2 ||
        (src->transl_table && !iso_genetic_code_known(src->transl_table)))
        return iso_error(ISO_EINVAL, "%s:%ld: transcript '%s': expected CDS intervals for n_cds, positions for n_sec, "
                                     "a CDS phase of 0, 1 or 2 (got %d) and 0 or an NCBI genetic code "
                                     "isoformer translates with (got %d)",
                         path, line, src->transcript_id, src->cds_phase, src->transl_table);
    const int slip = (src->flags & ISO_TX_RIBOSOMAL_SLIPPAGE) != 0;
    for (int i = 0; i < src->n_cds; i++)
        if (src->cds[i].end <= src->cds[i].start || (i && cds_overlap_refused(src->cds[i - 1], src->cds[i], slip)) ||
            src->cds[i].start < src->exons[0].start || src->cds[i].end > src->exons[src->n_exons - 1].end)
            return iso_error(ISO_EINVAL, "%s:%ld: transcript '%s': CDS intervals must be non-empty, sorted, not "
                                         "overlap (with ISO_TX_RIBOSOMAL_SLIPPAGE: each extend the last) and lie "
                                         "within the exons' span", path, line, src->transcript_id);
    *t = (iso_transcript){.strand = src->strand, .n_exons = src->n_exons, .n_cds = src->n_cds,
                          .cds_phase = src->cds_phase, .transl_table = src->transl_table, .n_sec = src->n_sec,
                          .flags = src->flags, .line = line};
    const char *gene = src->gene_id ? src->gene_id : "";
    if (!(t->transcript_id = strdup(src->transcript_id)) || !(t->gene_id = strdup(gene)) ||
        !(t->gene_name = strdup(src->gene_name ? src->gene_name : gene)) ||
        !(t->biotype = strdup(src->biotype ? src->biotype : "")) || !(t->chrom = strdup(src->chrom)) ||
        dup_intervals(&t->exons, src->exons, src->n_exons) < 0 || dup_intervals(&t->cds, src->cds, src->n_cds) < 0 ||
        !(t->sec_pos = malloc((size_t)(src->n_sec ? src->n_sec : 1) * sizeof *t->sec_pos)))
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    if (src->n_sec)
        memcpy(t->sec_pos, src->sec_pos, (size_t)src->n_sec * sizeof *t->sec_pos);
    t->tss = t->strand == '+' ? t->exons[0].start : t->exons[t->n_exons - 1].end - 1;
    if (t->n_cds)
        t->flags |= ISO_TX_CODING;
    return ISO_OK;
}

int iso_annotation_from_transcripts(const char *path, const iso_transcript *tx, size_t n, iso_annotation **out)
{
    *out = NULL;
    annotation_impl *impl = calloc(1, sizeof *impl);
    if (!impl || !(impl->pub.path = strdup(path)) || !(impl->by_id = kh_init(ids)) ||
        !(impl->by_unversioned = kh_init(ids)) || !(impl->pub.tx = calloc(n ? n : 1, sizeof *impl->pub.tx))) {
        iso_annotation_free(impl ? &impl->pub : NULL);
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    }
    int rc = ISO_OK;
    for (size_t i = 0; rc == ISO_OK && i < n; i++, impl->pub.n++)
        rc = transcript_copy(path, &tx[i], &impl->pub.tx[i]);
    if (rc == ISO_OK)
        rc = index_ids(impl);
    if (rc != ISO_OK) {
        iso_annotation_free(&impl->pub);
        return rc;
    }
    *out = &impl->pub;
    return ISO_OK;
}
