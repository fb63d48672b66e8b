/* BAM/CRAM quantification: one streaming pass per annotated contig (contigs in parallel, each with its own
 * reader; decompression on htslib's thread pool), mates paired as they come, each fragment's compatible set
 * added to the contig's equivalence classes (a multi-mapper's alignments kept by read name until the pass is
 * over); then the library type, the fragment-length distribution, the multi-mappers' classes, effective
 * lengths, and the EM. Contig results are combined in the file's contig order, so the output does not
 * depend on the number of threads. */
#include <errno.h>
#include <htslib/faidx.h>
#include <htslib/khash.h>
#include <htslib/thread_pool.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/complete.h"
#include "isoformer/outputs.h"
#include "quant/quant_internal.h"
#include "util/array.h"

void iso_quant_opts_default(iso_quant_opts *o)
{
    *o = (iso_quant_opts){.strand = ISO_STRAND_AUTO, .threads = 1, .max_iter = 10000, .tol = 1e-3,
                          .frag_mean = 250, .frag_sd = 25};
}

KHASH_MAP_INIT_STR(mate, size_t)

/* A first mate waiting for its pair: its compatible transcripts (malloc'd) and span. */
typedef struct {
    uint32_t *tx;
    int n;
    int name_len; /* of the read name, which begins its key */
    int64_t start, end;
    int read1_reverse; /* strand of read 1 (this mate's strand if it is read 1, the opposite otherwise) */
    double weight;     /* 1/NH */
} mate_info;

/* What one contig's pass gathers; combined in contig order. */
typedef struct {
    class_table classes;
    multi_list multi;
    double fld[MAX_FRAG + 1];
    double n_fragments; /* each alignment 1/NH */
    size_t n_fld, n_sense, n_antisense, n_records;
    cov_track cov[2]; /* by the strand of read 1: forward, reverse */
    int rc;
    char *error;
} contig_result;

typedef struct {
    const tx_index *ix;
    const contig_index *ci;
    int64_t contig_len;
    int coverage;
    contig_result *res;
    mate_info *pending;     /* slots; free ones chained through n = -1 - next */
    size_t n_pending, cap_pending, free_head; /* free_head: slot + 1, 0 none */
    khash_t(mate) *by_name; /* "qname/pos/mate pos/HI" -> pending slot */
} contig_pass;

/* One fragment (a pair, or a read whose mate is not with it) at one alignment; name: its read name. */
static int fragment(contig_pass *st, const char *name, int name_len, const uint32_t *tx, int n, int read1_reverse,
                    int64_t fs, int64_t fe, int paired, double weight)
{
    contig_result *res = st->res;
    const iso_annotation *ann = st->ix->ann;
    int unique = weight == 1.0;
    res->n_fragments += weight;
    if (n == 0)
        return ISO_OK;
    if (n == 1 && unique) { /* orientation and length statistics from unambiguous fragments */
        if (read1_reverse == (ann->tx[tx[0]].strand == '-'))
            res->n_sense++;
        else
            res->n_antisense++;
        if (paired) {
            int64_t len = tx_span(st->ix, tx[0], fs, fe);
            if (len > 0 && len <= MAX_FRAG) {
                res->fld[len] += 1;
                res->n_fld++;
            }
        }
    }
    /* The fragment length each transcript implies (pairs only): transcripts that splice out or keep the
     * sequence between the mates differ here, which is what tells such isoforms apart. A multi-mapper's
     * transcripts may join those of its other alignments, so it keeps them even when alone. */
    int32_t bins[MAX_COMPATIBLE];
    for (int i = 0; i < n; i++) {
        int64_t len = paired && (n > 1 || !unique) ? tx_span(st->ix, tx[i], fs, fe) : -1;
        bins[i] = len > 0 ? (int32_t)(len / LEN_BIN + 1) : 0;
    }
    if (!unique)
        return multi_add(&res->multi, name, (size_t)name_len, tx, bins, n, read1_reverse, paired);
    return class_add(&res->classes, tx, bins, n, read1_reverse, 1.0);
}

static int intersect(uint32_t *a, int na, const uint32_t *b, int nb)
{
    int n = 0;
    for (int i = 0, j = 0; i < na && j < nb;) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            a[n++] = a[i];
            i++;
            j++;
        }
    }
    return n;
}

static void release(contig_pass *st, size_t slot)
{
    free(st->pending[slot].tx);
    st->pending[slot].tx = NULL;
    st->pending[slot].n = -1; /* free; the chain of free slots runs through start */
    st->pending[slot].start = (int64_t)st->free_head;
    st->free_head = slot + 1;
}

static int wait_for_mate(contig_pass *st, const char *key, const mate_info *m, const uint32_t *tx)
{
    size_t slot;
    if (st->free_head) {
        slot = st->free_head - 1;
        st->free_head = (size_t)st->pending[slot].start;
    } else {
        mate_info *p = iso_reserve(st->pending, &st->cap_pending, st->n_pending + 1, sizeof *p, 1024);
        if (!p)
            return iso_error(ISO_ENOMEM, "out of memory");
        st->pending = p;
        slot = st->n_pending++;
    }
    mate_info *w = &st->pending[slot];
    *w = *m;
    w->tx = m->n ? malloc((size_t)m->n * sizeof *w->tx) : NULL;
    char *owned = strdup(key);
    int absent = -1;
    khint_t k = owned && (w->tx || !m->n) ? kh_put(mate, st->by_name, owned, &absent) : 0;
    if (absent <= 0) { /* out of memory, or the same name at the same position twice: the second waits no more */
        free(owned);
        release(st, slot);
        return absent < 0 ? iso_error(ISO_ENOMEM, "out of memory") : ISO_OK;
    }
    if (m->n) /* memcpy with NULL is undefined even for 0 bytes */
        memcpy(w->tx, tx, (size_t)m->n * sizeof *tx);
    kh_val(st->by_name, k) = slot;
    return ISO_OK;
}

/* "/v" in decimal at p (snprintf's format parsing was a sixth of quant's time); returns the end. */
static char *put_field(char *p, int64_t v)
{
    char digits[24];
    int n = 0;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        digits[n++] = (char)('0' + u % 10);
    while (u /= 10);
    *p++ = '/';
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = digits[--n];
    return p;
}

static int alignment(contig_pass *st, const bam1_t *b)
{
    const bam1_core_t *c = &b->core;
    if (c->flag & (BAM_FUNMAP | BAM_FQCFAIL | BAM_FDUP | BAM_FSUPPLEMENTARY))
        return ISO_OK;
    blocks bl;
    if (read_blocks(b, st->contig_len, &bl) < 0)
        return ISO_OK;
    uint8_t *nh = bam_aux_get(b, "NH"), *hi = bam_aux_get(b, "HI");
    int64_t nh_v = nh ? bam_aux2i(nh) : 1;
    /* A secondary alignment without NH > 1 (minimap2, BWA, Bowtie 2 write none) cannot be grouped with the
     * read's other alignments: counted, it made the read a second whole fragment. The primary counts alone. */
    if ((c->flag & BAM_FSECONDARY) && nh_v <= 1)
        return ISO_OK;
    double weight = 1.0 / (double)(nh_v > 0 ? nh_v : 1);
    mate_info m = {.weight = weight};
    int reverse = (c->flag & BAM_FREVERSE) != 0;
    m.read1_reverse = (c->flag & BAM_FREAD2) ? !reverse : reverse;
    if (st->coverage) {
        cov_track *t = &st->res->cov[m.read1_reverse];
        for (int i = 0; i < bl.n; i++)
            if (cov_add_block(t, bl.start[i], bl.end[i], weight) != ISO_OK)
                return ISO_ENOMEM;
        if (cov_full(t) && cov_sweep(t, c->pos) != ISO_OK)
            return ISO_ENOMEM;
    }
    drop_short_anchors(&bl); /* coverage keeps every aligned base, compatibility only the trustworthy */
    m.start = bl.start[0];
    m.end = bl.end[bl.n - 1];
    uint32_t tx[MAX_COMPATIBLE];
    m.n = find_compatible(st->ix, st->ci, &bl, tx);
    int paired = (c->flag & BAM_FPAIRED) && !(c->flag & BAM_FMUNMAP) && c->mtid == c->tid;
    const char *name = bam_get_qname(b);
    m.name_len = (int)strlen(name);
    if (!paired)
        return fragment(st, name, m.name_len, tx, m.n, m.read1_reverse, m.start, m.end, 0, weight);
    /* The first mate seen waits, keyed by name, both mates' positions and the alignment's HI: a multi-mapper
     * may pair one mate's alignment with several of the other's (HISAT2 without HI). Mates at one position
     * come in either order (samtools puts the forward one first, read 2 in half the pairs): whichever is seen
     * first waits; read 1 always waiting split such a pair into two fragments. */
    char key[512]; /* a read name has at most 254 characters */
    int first = c->pos < c->mpos, same_pos = c->pos == c->mpos;
    char *end = key + m.name_len;
    memcpy(key, name, (size_t)m.name_len);
    end = put_field(end, first ? c->pos : c->mpos);
    end = put_field(end, first ? c->mpos : c->pos);
    end = put_field(end, hi ? bam_aux2i(hi) : 0);
    *end = 0;
    khint_t k = kh_get(mate, st->by_name, key);
    if (first || (same_pos && k == kh_end(st->by_name)))
        return wait_for_mate(st, key, &m, tx);
    if (k == kh_end(st->by_name)) /* mate filtered out */
        return fragment(st, name, m.name_len, tx, m.n, m.read1_reverse, m.start, m.end, 0, weight);
    size_t slot = kh_val(st->by_name, k);
    mate_info *f = &st->pending[slot];
    int64_t fs = f->start < m.start ? f->start : m.start, fe = f->end > m.end ? f->end : m.end;
    int nn = intersect(f->tx, f->n, tx, m.n);
    int rc = fragment(st, name, m.name_len, f->tx, nn, f->read1_reverse, fs, fe, 1, weight);
    free((char *)kh_key(st->by_name, k));
    kh_del(mate, st->by_name, k);
    release(st, slot);
    return rc;
}

/* Mates whose pair never came (filtered, or on another contig) count as single reads. */
static int flush_pending(contig_pass *st)
{
    int rc = ISO_OK;
    for (khint_t k = kh_begin(st->by_name); k != kh_end(st->by_name); k++)
        if (kh_exist(st->by_name, k)) {
            mate_info *w = &st->pending[kh_val(st->by_name, k)];
            if (rc == ISO_OK)
                rc = fragment(st, kh_key(st->by_name, k), w->name_len, w->tx, w->n, w->read1_reverse, w->start,
                              w->end, 0, w->weight);
            free((char *)kh_key(st->by_name, k));
        }
    for (size_t i = 0; i < st->n_pending; i++)
        if (st->pending[i].n >= 0)
            free(st->pending[i].tx);
    kh_destroy(mate, st->by_name);
    free(st->pending);
    return rc;
}

/* ---- the readers: one per worker, contigs handed out in order ---- */

typedef struct {
    const char *path, *reference;
    const tx_index *ix;
    int coverage;
    hts_tpool *pool;
    contig_result *res;
    int next; /* next contig to take, under lock */
    pthread_mutex_t lock;
} pass_job;

static int open_reader(const pass_job *job, samFile **fp, sam_hdr_t **h, hts_idx_t **idx)
{
    *h = NULL;
    *idx = NULL;
    if (!(*fp = sam_open(job->path, "r")))
        return iso_error(ISO_EIO, "%s: cannot open as BAM/CRAM", job->path);
    if (job->reference && hts_set_fai_filename(*fp, job->reference) != 0)
        return iso_error(ISO_EIO, "%s: cannot use %s as the CRAM reference (a FASTA with its .fai)", job->path,
                         job->reference);
    if (job->pool) {
        htsThreadPool p = {job->pool, 0};
        hts_set_opt(*fp, HTS_OPT_THREAD_POOL, &p);
    }
    if (!(*h = sam_hdr_read(*fp)))
        return iso_error(ISO_EFORMAT, "%s: not a BAM/CRAM file (no header)", job->path);
    /* samtools indexes BAM, CRAM and BGZF-compressed SAM only: plain or gzip'd SAM has to become a BAM */
    if (!(*idx = sam_index_load(*fp, job->path)) && hts_get_format(*fp)->compression != bgzf)
        return iso_error(ISO_EFORMAT, "%s: expected a BAM or CRAM with an index; an uncompressed or gzip'd SAM "
                                      "cannot be indexed: run 'samtools sort -o sorted.bam %s && samtools index "
                                      "sorted.bam' and give sorted.bam", job->path, job->path);
    if (!*idx)
        return iso_error(ISO_EFORMAT, "%s: no index (.bai/.csi/.crai) found: run 'samtools index %s'", job->path,
                         job->path);
    return ISO_OK;
}

static int is_cram(samFile *fp) { return hts_get_format(fp)->format == cram; }

static int run_contig(const pass_job *job, samFile *fp, hts_idx_t *idx, int c)
{
    const contig_index *ci = &job->ix->contigs[c];
    contig_result *res = &job->res[c];
    contig_pass st = {.ix = job->ix, .ci = ci, .contig_len = ci->len,
                      .coverage = job->coverage, .res = res, .by_name = kh_init(mate)};
    bam1_t *b = bam_init1();
    hts_itr_t *itr = sam_itr_queryi(idx, ci->tid, 0, HTS_POS_MAX);
    const char *name = ci->name;
    int rc = !b || !st.by_name ? iso_error(ISO_ENOMEM, "out of memory")
             : !itr            ? iso_error(ISO_EFORMAT, "%s: cannot iterate contig %s with the index", job->path, name)
                               : ISO_OK;
    int r = -1;
    int64_t last = -1;
    while (rc == ISO_OK && (r = sam_itr_next(fp, itr, b)) >= 0) {
        if (b->core.pos < last) {
            rc = iso_error(ISO_EFORMAT, "%s: %s at %s:%lld comes after position %lld: the file is not sorted "
                                        "although its header says so; run 'samtools sort'", job->path,
                           bam_get_qname(b), name, (long long)b->core.pos + 1, (long long)last + 1);
            break;
        }
        last = b->core.pos;
        res->n_records++;
        rc = alignment(&st, b);
    }
    if (rc == ISO_OK && r < -1)
        rc = is_cram(fp) ? iso_error(ISO_EFORMAT, "%s: cannot decode the CRAM record after %s:%lld: is its reference "
                                                  "missing? Give the reference FASTA it was written with, or set "
                                                  "REF_PATH", job->path, name, (long long)last + 1)
                         : iso_error(ISO_EFORMAT, "%s: corrupt or truncated record after %s:%lld", job->path, name,
                                     (long long)last + 1);
    if (st.by_name) {
        int frc = flush_pending(&st);
        rc = rc == ISO_OK ? frc : rc;
    }
    for (int t = 0; rc == ISO_OK && job->coverage && t < 2; t++)
        rc = cov_sweep(&res->cov[t], INT64_MAX);
    hts_itr_destroy(itr);
    bam_destroy1(b);
    return rc;
}

static void *pass_worker(void *arg)
{
    pass_job *job = arg;
    samFile *fp = NULL;
    sam_hdr_t *h = NULL;
    hts_idx_t *idx = NULL;
    int rc = open_reader(job, &fp, &h, &idx);
    for (;;) {
        pthread_mutex_lock(&job->lock);
        int c = job->next < job->ix->n_contigs ? job->next++ : -1;
        pthread_mutex_unlock(&job->lock);
        if (c < 0)
            break;
        contig_result *res = &job->res[c];
        res->rc = rc == ISO_OK ? run_contig(job, fp, idx, c) : rc;
        if (res->rc != ISO_OK) {
            res->error = strdup(iso_last_error());
            pthread_mutex_lock(&job->lock);
            job->next = job->ix->n_contigs; /* the others stop taking contigs */
            pthread_mutex_unlock(&job->lock);
        }
    }
    if (idx)
        hts_idx_destroy(idx);
    if (h)
        sam_hdr_destroy(h);
    if (fp)
        sam_close(fp);
    return NULL;
}

static int run_pass(pass_job *job, int threads)
{
    int workers = threads < job->ix->n_contigs ? threads : job->ix->n_contigs;
    pthread_t *tid = calloc((size_t)(workers > 0 ? workers : 1), sizeof *tid);
    if (!tid)
        return iso_error(ISO_ENOMEM, "out of memory");
    pthread_mutex_init(&job->lock, NULL);
    int started = 1;
    for (int i = 1; i < workers; i++, started++)
        if (pthread_create(&tid[i], NULL, pass_worker, job) != 0)
            break;
    pass_worker(job);
    for (int i = 1; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&job->lock);
    free(tid);
    for (int c = 0; c < job->ix->n_contigs; c++) /* the first failing contig in file order speaks */
        if (job->res[c].rc != ISO_OK)
            return iso_error(job->res[c].rc, "%s", job->res[c].error ? job->res[c].error : "out of memory");
    return ISO_OK;
}

static int check_header(const char *path, const char *reference, const iso_annotation *ann, tx_index *ix)
{
    samFile *fp = sam_open(path, "r");
    if (!fp)
        return iso_error(ISO_EIO, "%s: cannot open as BAM/CRAM", path);
    /* a BAM cut at a block boundary reads as a shorter one through its old index: refuse it here, once */
    int rc = iso_check_complete(fp, path);
    sam_hdr_t *h = rc == ISO_OK ? sam_hdr_read(fp) : NULL;
    if (rc == ISO_OK && !h)
        rc = iso_error(ISO_EFORMAT, "%s: not a BAM/CRAM file (no header)", path);
    kstring_t so = {0, 0, NULL};
    int found = rc == ISO_OK && sam_hdr_find_tag_hd(h, "SO", &so) == 0;
    if (rc == ISO_OK && !(found && !strcmp(so.s, "coordinate")))
        rc = iso_error(ISO_EFORMAT, "%s: not coordinate-sorted (header @HD SO:%s): run 'samtools sort -o "
                                    "sorted.bam %s && samtools index sorted.bam'", path, found ? so.s : "absent",
                       path);
    free(so.s);
    /* The reference is loaded here once, for its message: each reader's hts_set_fai_filename leaked htslib's
     * reference list when it failed, and a BAM given a missing --reference went on without a word. */
    if (rc == ISO_OK && reference && is_cram(fp)) {
        faidx_t *fai = fai_load(reference);
        if (fai)
            fai_destroy(fai);
        else
            rc = iso_error(ISO_EIO, "%s: cannot use %s as the CRAM reference (expected a FASTA, with its .fai or "
                                    "in a writable directory)", path, reference);
    } else if (rc == ISO_OK && reference && access(reference, R_OK) != 0) {
        rc = iso_error(ISO_EIO, "%s: cannot read the reference FASTA (%s)", reference, strerror(errno));
    }
    if (rc == ISO_OK && is_cram(fp) && !reference && !getenv("REF_PATH") && !getenv("REF_CACHE"))
        iso_warn("%s: CRAM without a reference FASTA or REF_PATH: htslib looks for the reference by the header's M5 "
                 "checksums (UR field, then a network lookup)", path);
    if (rc == ISO_OK)
        rc = tx_index_build(ix, ann, h, path);
    if (h)
        sam_hdr_destroy(h);
    sam_close(fp);
    return rc;
}

/* ---- after the pass: library type, fragment lengths, effective lengths, EM ---- */

/* The fragment-length distribution: observed, or the prior where too few unique pairs were seen. */
#define N_BINS (MAX_FRAG / LEN_BIN + 2)
typedef struct {
    double p[MAX_FRAG + 1];
    double mean, sd;
    double w[N_BINS]; /* len_weight of each bin up to MAX_FRAG */
} frag_model;

/* The likelihood of a fragment-length bin relative to the most likely bin (an unknown length, bin 0, counts as
 * 1), floored so that no compatible transcript gets zero. */
static double len_weight(int32_t bin, const void *ctx)
{
    const frag_model *fm = ctx;
    return bin <= 0 ? 1.0 : bin < N_BINS ? fm->w[bin] : 1e-6;
}

/* Each class's per-transcript weights: len_weight of the fragment length each transcript implies. */
static int class_weights(const class_table *t, iso_eq_class *out, const frag_model *fm)
{
    for (size_t c = 0; c < t->n; c++) {
        const qclass *k = &t->c[c];
        const int32_t *bin = t->pool.bin + k->off;
        out[c] = (iso_eq_class){t->pool.tx + k->off, k->n, k->count, NULL};
        int known = 0;
        for (int i = 0; i < k->n; i++)
            known |= bin[i] > 0;
        if (!known || k->n == 1)
            continue;
        double *w = malloc((size_t)k->n * sizeof *w);
        if (!w)
            return iso_error(ISO_ENOMEM, "out of memory");
        for (int i = 0; i < k->n; i++)
            w[i] = len_weight(bin[i], fm);
        out[c].weight = w;
    }
    return ISO_OK;
}

/* Effective length: expected number of start positions of a fragment drawn from the length distribution
 * restricted to lengths that fit (the conditional mean, as salmon and RSEM do). */
static double effective_length(const double *p, int64_t len)
{
    double w = 0, mean = 0;
    for (int64_t l = 1; l <= MAX_FRAG && l <= len; l++) {
        w += p[l];
        mean += p[l] * (double)l;
    }
    double eff = w > 0 ? (double)len - mean / w + 1 : (double)len;
    return eff >= 1 ? eff : 1;
}

/* len_weight's table: the distribution smoothed by a binomial kernel over +-4 bp (as salmon smooths its
 * observations), averaged over each bin. */
static void bin_weights(frag_model *fm)
{
    static const double kernel[9] = {1, 8, 28, 56, 70, 56, 28, 8, 1};
    double smooth[MAX_FRAG + 1] = {0}, top = 0;
    for (int l = 1; l <= MAX_FRAG; l++)
        for (int k = -4; k <= 4; k++)
            if (l + k >= 1 && l + k <= MAX_FRAG)
                smooth[l + k] += fm->p[l] * kernel[k + 4] / 256;
    for (int b = 1; b < N_BINS; b++) {
        double sum = 0;
        for (int l = (b - 1) * LEN_BIN; l < b * LEN_BIN && l <= MAX_FRAG; l++)
            sum += smooth[l];
        fm->w[b] = sum / LEN_BIN;
        top = fm->w[b] > top ? fm->w[b] : top;
    }
    for (int b = 1; b < N_BINS; b++)
        fm->w[b] = (top > 0 ? fm->w[b] / top : 0) + 1e-6;
}

static void fragment_distribution(const double *fld, size_t n_fld, const iso_quant_opts *o, frag_model *fm)
{
    double n = 0, s = 0, s2 = 0;
    for (int l = 1; l <= MAX_FRAG; l++) {
        n += fld[l];
        s += fld[l] * l;
        s2 += fld[l] * (double)l * l;
    }
    if (n_fld >= 100) {
        fm->mean = s / n;
        fm->sd = sqrt(s2 / n - fm->mean * fm->mean);
        for (int l = 0; l <= MAX_FRAG; l++)
            fm->p[l] = fld[l] / n;
        bin_weights(fm);
        return;
    }
    fm->mean = o->frag_mean;
    fm->sd = o->frag_sd;
    for (int l = 0; l <= MAX_FRAG; l++)
        fm->p[l] = l ? exp(-0.5 * pow((l - o->frag_mean) / o->frag_sd, 2)) : 0;
    bin_weights(fm);
}

/* A bootstrap replicate also stops once an accelerated step gains less log-likelihood than this, in nats: in
 * the tail a few pairs of transcripts trade fragments along a nearly flat ridge of the likelihood, moving by a
 * percent a step (so the relative-change rule holds on) for hundreds of steps, SQUAREM's long steps rejected,
 * each step gaining some 5e-4 nats. Likelihood ratios weigh the same at any depth (a 95% interval of one
 * abundance spans 1.92 nats), so the cut is absolute rather than per fragment; a replicate's spread along such a
 * ridge is far wider than where on it the EM stops. The point estimate keeps the relative rule alone. */
#define BOOT_MIN_GAIN 1e-3

static iso_quant_result *result_alloc(size_t n)
{
    iso_quant_result *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->n = n;
    n = n ? n : 1;
    r->length = calloc(n, sizeof *r->length);
    r->eff_length = calloc(n, sizeof *r->eff_length);
    r->num_reads = calloc(n, sizeof *r->num_reads);
    r->tpm = calloc(n, sizeof *r->tpm);
    if (r->length && r->eff_length && r->num_reads && r->tpm)
        return r;
    iso_quant_free(r);
    return NULL;
}

/* The coverage tracks of the decided library: one (both strands of read 1 summed) or plus and minus. */
static int coverage_tracks(iso_quant_result *r, contig_result *res, const tx_index *ix)
{
    int n_tracks = r->strand == ISO_STRAND_FR || r->strand == ISO_STRAND_RF ? 2 : 1;
    r->coverage = calloc((size_t)n_tracks * ix->n_contigs, sizeof *r->coverage);
    r->contig = calloc((size_t)ix->n_contigs, sizeof *r->contig);
    r->contig_len = calloc((size_t)ix->n_contigs, sizeof *r->contig_len);
    if (!r->coverage || !r->contig || !r->contig_len)
        return iso_error(ISO_ENOMEM, "out of memory");
    r->n_tracks = n_tracks;
    r->n_contigs = ix->n_contigs;
    for (int c = 0; c < ix->n_contigs; c++) {
        if (!(r->contig[c] = strdup(ix->contigs[c].name)))
            return iso_error(ISO_ENOMEM, "out of memory");
        r->contig_len[c] = (uint32_t)ix->contigs[c].len;
        cov_track *cv = res[c].cov;
        /* read 1 forward is RNA '+' in fr libraries, '-' in rf ones */
        int rc = n_tracks == 1 ? cov_sum(&cv[0], &cv[1], &r->coverage[c])
                 : ISO_OK;
        if (n_tracks == 2) {
            int plus = r->strand == ISO_STRAND_FR ? 0 : 1;
            cov_take(&cv[plus], &r->coverage[c]);
            cov_take(&cv[1 - plus], &r->coverage[ix->n_contigs + c]);
        }
        if (rc != ISO_OK)
            return rc;
    }
    return ISO_OK;
}

static iso_strandedness decide_strand(iso_strandedness asked, size_t sense, size_t antisense, double *fraction)
{
    size_t decided = sense + antisense;
    *fraction = decided ? (double)sense / (double)decided : NAN;
    if (asked != ISO_STRAND_AUTO)
        return asked;
    return decided < 50 || (*fraction > 0.2 && *fraction < 0.8) ? ISO_STRAND_NONE
           : *fraction >= 0.8                                  ? ISO_STRAND_FR
                                                               : ISO_STRAND_RF;
}

static int quantify(const iso_quant_opts *o, const iso_annotation *ann, const class_table *classes,
                    const frag_model *fm, iso_quant_result *r)
{
    for (size_t t = 0; t < ann->n; t++) {
        const iso_transcript *tx = &ann->tx[t];
        for (int e = 0; e < tx->n_exons; e++)
            r->length[t] += tx->exons[e].end - tx->exons[e].start;
        r->eff_length[t] = effective_length(fm->p, r->length[t]);
    }
    iso_eq_class *eq = calloc(classes->n ? classes->n : 1, sizeof *eq);
    int rc = eq ? class_weights(classes, eq, fm) : iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK) {
        int it = iso_quant_em(eq, classes->n, r->eff_length, ann->n, o->max_iter, o->tol, r->num_reads,
                              &r->em_change);
        rc = it < 0 ? it : ISO_OK;
        r->em_iterations = it;
        r->n_classes = classes->n;
    }
    if (rc == ISO_OK && o->bootstraps > 0) {
        r->bootstrap = malloc((size_t)o->bootstraps * (ann->n ? ann->n : 1) * sizeof *r->bootstrap);
        int *its = malloc((size_t)o->bootstraps * sizeof *its);
        rc = !r->bootstrap || !its
                 ? iso_error(ISO_ENOMEM, "out of memory for %d bootstraps", o->bootstraps)
                 : iso_quant_bootstrap(eq, classes->n, r->eff_length, ann->n, r->num_reads, o->bootstraps, o->threads,
                                       o->max_iter, o->tol, BOOT_MIN_GAIN, r->bootstrap, its);
        r->n_bootstraps = rc == ISO_OK ? o->bootstraps : 0;
        for (int b = 0; b < r->n_bootstraps; b++)
            r->bootstrap_em_iterations += its[b];
        free(its);
    }
    double norm = 0;
    for (size_t t = 0; t < ann->n; t++)
        norm += r->num_reads[t] / r->eff_length[t];
    for (size_t t = 0; t < ann->n; t++)
        r->tpm[t] = norm > 0 ? r->num_reads[t] / r->eff_length[t] / norm * 1e6 : 0;
    for (size_t c = 0; eq && c < classes->n; c++)
        free((void *)eq[c].weight);
    free(eq);
    return rc;
}

int iso_quant_bam(const char *path, const iso_annotation *ann, const iso_quant_opts *opts, iso_quant_result **out)
{
    *out = NULL;
    iso_quant_opts o;
    if (opts)
        o = *opts;
    else
        iso_quant_opts_default(&o);
    tx_index ix = {.ann = ann};
    int rc = check_header(path, o.reference, ann, &ix);
    pass_job job = {.path = path, .reference = o.reference, .ix = &ix, .coverage = o.coverage};
    if (rc == ISO_OK && o.threads > 1 && !(job.pool = hts_tpool_init(o.threads)))
        rc = iso_error(ISO_ENOMEM, "cannot start %d decompression threads", o.threads);
    if (rc == ISO_OK && !(job.res = calloc((size_t)ix.n_contigs, sizeof *job.res)))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK)
        rc = run_pass(&job, o.threads);
    /* The contigs in file order: classes, fragment lengths, orientation. */
    class_table all = {0}, resolved = {0};
    double fld[MAX_FRAG + 1] = {0}, n_fragments = 0;
    size_t n_fld = 0, sense = 0, antisense = 0, n_records = 0;
    for (int c = 0; rc == ISO_OK && c < ix.n_contigs; c++) {
        const contig_result *res = &job.res[c];
        for (size_t k = 0; rc == ISO_OK && k < res->classes.n; k++) {
            const qclass *q = &res->classes.c[k];
            rc = class_add(&all, res->classes.pool.tx + q->off, res->classes.pool.bin + q->off, q->n, q->strand,
                           q->count);
        }
        for (int l = 0; l <= MAX_FRAG; l++)
            fld[l] += res->fld[l];
        n_fld += res->n_fld, sense += res->n_sense, antisense += res->n_antisense;
        n_fragments += res->n_fragments, n_records += res->n_records;
    }
    iso_quant_result *r = NULL;
    if (rc == ISO_OK && !(r = result_alloc(ann->n)))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    frag_model fm;
    fragment_distribution(fld, n_fld, &o, &fm);
    const multi_list **multi = rc == ISO_OK ? malloc(((size_t)ix.n_contigs + 1) * sizeof *multi) : NULL;
    if (rc == ISO_OK && !multi)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    for (int c = 0; multi && c < ix.n_contigs; c++)
        multi[c] = &job.res[c].multi;
    if (rc == ISO_OK) {
        r->strand = decide_strand(o.strand, sense, antisense, &r->sense_fraction);
        rc = class_table_resolve(&resolved, &all, ann, r->strand);
    }
    if (rc == ISO_OK)
        rc = multi_resolve(&resolved, multi, ix.n_contigs, ann, r->strand, len_weight, &fm);
    free(multi);
    class_table_free(&all);
    for (size_t k = 0; rc == ISO_OK && k < resolved.n; k++)
        r->assigned_weight += resolved.c[k].count;
    if (rc == ISO_OK)
        r->n_assigned = (size_t)llround(r->assigned_weight);
    if (rc == ISO_OK && r->n_assigned == 0 && n_records == 0) /* no read to have a strand: say what is missing */
        rc = iso_error(ISO_EFORMAT, "%s: no alignment on the contigs it shares with %s (%d, e.g. '%s'): an empty "
                                    "BAM, or reads only on other contigs?", path, ann->path, ix.n_contigs,
                       ix.contigs[0].name);
    else if (rc == ISO_OK && r->n_assigned == 0)
        rc = iso_error(ISO_EFORMAT, "%s: no mapped read is compatible with a transcript of %s (%zu alignments on "
                                    "annotated contigs): wrong annotation, assembly or library strandedness?", path, ann->path,
                       n_records);
    if (rc == ISO_OK) {
        r->n_records = n_records;
        r->n_fragments = (size_t)llround(n_fragments);
        r->n_pairs_for_fld = n_fld;
        r->frag_mean = fm.mean;
        r->frag_sd = fm.sd;
        rc = quantify(&o, ann, &resolved, &fm, r);
    }
    class_table_free(&resolved);
    if (rc == ISO_OK && o.coverage)
        rc = coverage_tracks(r, job.res, &ix);
    for (int c = 0; job.res && c < ix.n_contigs; c++) {
        class_table_free(&job.res[c].classes);
        multi_list_free(&job.res[c].multi);
        cov_track_free(&job.res[c].cov[0]);
        cov_track_free(&job.res[c].cov[1]);
        free(job.res[c].error);
    }
    free(job.res);
    if (job.pool)
        hts_tpool_destroy(job.pool);
    if (ix.offsets)
        tx_index_free(&ix);
    if (rc != ISO_OK) {
        iso_quant_free(r);
        return rc;
    }
    *out = r;
    return ISO_OK;
}

void iso_quant_free(iso_quant_result *r)
{
    if (!r)
        return;
    for (int i = 0; r->coverage && i < r->n_tracks * r->n_contigs; i++)
        free(r->coverage[i].spans);
    for (int c = 0; r->contig && c < r->n_contigs; c++)
        free(r->contig[c]);
    free(r->coverage);
    free(r->contig);
    free(r->contig_len);
    free(r->length);
    free(r->eff_length);
    free(r->num_reads);
    free(r->tpm);
    free(r->bootstrap);
    free(r);
}
