/* Reference FASTA through htslib's faidx: plain or bgzipped, index built beside the file when absent. */
#include "isoformer/io.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <htslib/bgzf.h>
#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/khash.h>

#include "io/complete.h"

KHASH_MAP_INIT_STR(names, long long)

struct iso_fasta {
    faidx_t *fai;
    char *path;
    /* an edited view (iso_fasta_edited): base's sequence with edits applied on edit_contig */
    iso_fasta *base;
    char *edit_contig;
    iso_fasta_edit *edits; /* seq points into edit_bases */
    int n_edits;
    char *edit_bases;
    int64_t delta; /* edited minus reference contig length */
};

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Explains why an index cannot be built instead of htslib's generic failure. */
static int explain_unindexable(const char *path)
{
    htsFile *f = hts_open(path, "r");
    if (!f)
        return iso_error(errno == ENOENT ? ISO_ENOTFOUND : ISO_EIO, "%s: cannot open (%s)", path,
                         strerror(errno ? errno : EIO));
    const htsFormat *fmt = hts_get_format(f);
    int gzip_not_bgzf = fmt->compression == gzip;
    hts_close(f);
    if (gzip_not_bgzf)
        return iso_error(ISO_EFORMAT,
                         "%s: gzip-compressed FASTA must be bgzip-compressed to be indexed: "
                         "run 'zcat %s | bgzip > new.fa.gz'",
                         path, path);
    char *dir_copy = strdup(path);
    if (!dir_copy)
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    int writable = access(dirname(dir_copy), W_OK) == 0;
    free(dir_copy);
    if (!writable)
        return iso_error(ISO_EIO,
                         "%s: no .fai index and its directory is not writable: run 'samtools faidx %s' where "
                         "you can write, or copy the FASTA to a writable directory",
                         path, path);
    return iso_error(ISO_EFORMAT, "%s: cannot index this FASTA (is it a valid FASTA with uniform line lengths?)",
                     path);
}

/* One line of a .fai: name, bases, byte offset of the first base, bases per line, bytes per line. */
typedef struct {
    char *name;
    long long len, offset, line_bases, line_width;
} fai_entry;

static void entries_free(fai_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
}

/* htslib trusts its index (a contig with bases but zero bases per line divides by zero when fetched), and
 * builds such entries from FASTA with stray control characters: check every entry first. */
static int read_index(const char *path, const char *index_path, fai_entry **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    iso_lines *lr = iso_lines_open(index_path);
    if (!lr)
        return iso_last_status();
    fai_entry *e = NULL;
    size_t n = 0, cap = 0;
    const char *line;
    size_t len;
    int rc;
    while ((rc = iso_lines_next(lr, &line, &len)) > 0) {
        fai_entry f;
        const char *tab = strchr(line, '\t');
        if (!tab || sscanf(tab + 1, "%lld\t%lld\t%lld\t%lld", &f.len, &f.offset, &f.line_bases, &f.line_width) != 4 ||
            tab == line || f.len < 0 || f.offset < 0 || (f.len > 0 && (f.line_bases <= 0 || f.line_width < f.line_bases))) {
            rc = iso_error(ISO_EFORMAT,
                           "%s:%ld: bad FASTA index entry for %s (empty name, or bases with no line length: "
                           "non-sequence characters in the FASTA?)",
                           index_path, iso_lines_lineno(lr), path);
            break;
        }
        if (n == cap) {
            fai_entry *p = realloc(e, (cap = cap ? 2 * cap : 64) * sizeof *p);
            if (!p) {
                rc = iso_error(ISO_ENOMEM, "%s: out of memory", index_path);
                break;
            }
            e = p;
        }
        if (!(f.name = strndup(line, (size_t)(tab - line)))) {
            rc = iso_error(ISO_ENOMEM, "%s: out of memory", index_path);
            break;
        }
        e[n++] = f;
    }
    iso_lines_close(lr);
    if (rc < 0) {
        entries_free(e, n);
        return rc;
    }
    *out = e;
    *n_out = n;
    return ISO_OK;
}

static int by_offset(const void *a, const void *b)
{
    const fai_entry *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Up to n bytes at byte pos of the (uncompressed) FASTA; fewer at its end. */
static int read_at(BGZF *fp, long long pos, char *buf, int n)
{
    if (bgzf_useek(fp, (off_t)pos, SEEK_SET) < 0)
        return 0; /* past the last block */
    int got = (int)bgzf_read(fp, buf, (size_t)n);
    return got < 0 ? 0 : got;
}

typedef struct {
    const char *path, *index_path;
    BGZF *fp;
    khash_t(names) *names; /* entry name -> offset */
} layout;

static int stale(const layout *l, const char *name, const char *what)
{
    return iso_error(ISO_EFORMAT,
                     "%s: its index %s does not match the file (sequence '%s': %s): the FASTA changed after it was "
                     "indexed; delete %s%s so that it is rebuilt (or run 'samtools faidx %s')",
                     l->path, l->index_path, name, what, l->index_path, l->fp->is_compressed ? " and the .gzi" : "",
                     l->path);
}

/* After the bases of `prev` (or at the start of the file when prev is NULL), past blank lines and empty records
 * (which htslib leaves out of the index), the header of `next` must begin at pos, its sequence at
 * next->offset; with next NULL, the file must end. */
static int expect_header(const layout *l, long long pos, const fai_entry *prev, const fai_entry *next)
{
    const char *after = prev ? prev->name : next ? next->name : "";
    for (;;) {
        char buf[4096];
        int got = read_at(l->fp, pos, buf, (int)sizeof buf), i = 0;
        while (i < got && (buf[i] == '\n' || buf[i] == '\r'))
            i++;
        if (i == got && got < (int)sizeof buf) {
            if (!next)
                return ISO_OK;
            return stale(l, next->name, prev ? "the file ends before it" : "the file is empty");
        }
        if (buf[i] != '>')
            return stale(l, after, prev ? "more bases follow where the index says it ends"
                                        : "the file does not start with its header");
        int header = i++;
        while (i < got && buf[i] != '\n' && buf[i] != '\r' && buf[i] != ' ' && buf[i] != '\t')
            i++;
        char found[sizeof buf];
        memcpy(found, buf + header + 1, (size_t)(i - header - 1));
        found[i - header - 1] = '\0';
        while (i < got && buf[i] != '\n')
            i++;
        int line_end = i < got ? i + 1 : -1; /* just past the header line, when it is in buf */
        if (next && !strcmp(found, next->name)) {
            if (line_end >= 0 && pos + line_end != next->offset)
                return stale(l, next->name, "its header line does not end where its bases start");
            return ISO_OK;
        }
        khiter_t k = kh_get(names, l->names, found);
        if (k != kh_end(l->names) && kh_val(l->names, k) < pos)
            return iso_error(ISO_EFORMAT, "%s: sequence name '%s' appears twice (again at byte %lld): FASTA names "
                                          "must be unique; rename or remove one of them",
                             l->path, found, pos + header);
        int j = line_end;
        while (j >= 0 && j < got && (buf[j] == '\n' || buf[j] == '\r'))
            j++;
        if (j < 0 || (j < got && buf[j] != '>') || (j == got && got == (int)sizeof buf)) {
            char what[sizeof buf + 64];
            snprintf(what, sizeof what, "the file has sequence '%s' next, the index %s", found,
                     next ? "another one" : "none");
            return stale(l, after, what);
        }
        pos += line_end; /* an empty record: the next header follows */
    }
}

/* The bases of e lie where the index says: its first line is line_bases long and ends in a line break, its last
 * base is followed by a line break or the end of the file. */
static int check_bases(const layout *l, const fai_entry *e, long long *end)
{
    *end = e->offset;
    if (e->len == 0)
        return ISO_OK;
    char buf[16];
    int eol = (int)(e->line_width - e->line_bases);
    if (e->len > e->line_bases) {
        if (eol < 1 || eol > 2 || read_at(l->fp, e->offset + e->line_bases - 1, buf, eol + 1) != eol + 1 ||
            buf[0] == '\n' || buf[0] == '\r' || buf[eol] != '\n' || (eol == 2 && buf[1] != '\r'))
            return stale(l, e->name, "its lines are not as long as the index says");
    }
    long long last = e->offset + (e->len - 1) / e->line_bases * e->line_width + (e->len - 1) % e->line_bases;
    int got = read_at(l->fp, last, buf, 2);
    if (got < 1 || buf[0] == '\n' || buf[0] == '\r' || buf[0] == '>' || (got == 2 && buf[1] != '\n' && buf[1] != '\r'))
        return stale(l, e->name, got < 1 ? "the file ends before its last base" : "its last line does not end where the index says");
    *end = last + 1;
    return ISO_OK;
}

/* A stale index makes htslib return other bases without a word: walk the file along the index (each record's
 * header, first line break and last base) so that any change of line length, sequence or header shows, and
 * name duplicate sequence names (htslib keeps the first silently). One read per record boundary. */
static int check_layout(const char *path, const char *index_path, fai_entry *e, size_t n)
{
    layout l = {.path = path, .index_path = index_path, .fp = bgzf_open(path, "r"), .names = kh_init(names)};
    int rc = l.fp && l.names ? ISO_OK : iso_error(ISO_EIO, "%s: cannot open (%s)", path, strerror(errno ? errno : ENOMEM));
    if (rc == ISO_OK && l.fp->is_compressed && bgzf_index_load(l.fp, path, ".gzi") < 0)
        rc = iso_error(ISO_EFORMAT, "%s: cannot load %s.gzi: delete %s so that both are rebuilt", path, path,
                       index_path);
    if (l.fp)
        bgzf_set_cache_size(l.fp, 8 << 20);
    for (size_t i = 0; rc == ISO_OK && i < n; i++) {
        int absent;
        khiter_t k = kh_put(names, l.names, e[i].name, &absent);
        if (absent < 0)
            rc = iso_error(ISO_ENOMEM, "%s: out of memory", path);
        else if (!absent)
            rc = iso_error(ISO_EFORMAT, "%s: sequence name '%s' appears twice: FASTA names must be unique; rename "
                                        "or remove one of them", path, e[i].name);
        else
            kh_val(l.names, k) = e[i].offset;
    }
    if (rc == ISO_OK && n)
        qsort(e, n, sizeof *e, by_offset);
    long long pos = 0;
    for (size_t i = 0; rc == ISO_OK && i <= n; i++) {
        rc = expect_header(&l, pos, i ? &e[i - 1] : NULL, i < n ? &e[i] : NULL);
        if (rc == ISO_OK && i < n)
            rc = check_bases(&l, &e[i], &pos);
    }
    kh_destroy(names, l.names);
    if (l.fp)
        bgzf_close(l.fp);
    return rc;
}

static int check_index(const char *path, const char *index_path)
{
    fai_entry *e;
    size_t n;
    int rc = read_index(path, index_path, &e, &n);
    if (rc == ISO_OK)
        rc = check_layout(path, index_path, e, n);
    entries_free(e, n);
    return rc;
}

iso_fasta *iso_fasta_open(const char *path)
{
    char index_path[4096];
    snprintf(index_path, sizeof index_path, "%s.fai", path);
    if (!file_exists(path)) {
        iso_error(ISO_ENOTFOUND, "%s: no such FASTA file", path);
        return NULL;
    }
    /* before faidx: a cut bgzipped FASTA indexes as a shorter one, and with its old .fai/.gzi asserts in htslib */
    if (iso_check_complete_path(path) < 0)
        return NULL;
    iso_fasta *fa = calloc(1, sizeof *fa);
    if (!fa || !(fa->path = strdup(path))) {
        free(fa);
        iso_error(ISO_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    int had_index = file_exists(index_path);
    int saved_level = hts_get_log_level();
    hts_set_log_level(HTS_LOG_OFF); /* we report failures ourselves, with the fix */
    fa->fai = fai_load3(path, NULL, NULL, FAI_CREATE);
    hts_set_log_level(saved_level);
    if (!fa->fai) {
        if (had_index)
            iso_error(ISO_EFORMAT, "%s: cannot load the FASTA index %s (stale or corrupt? delete it to rebuild)",
                      path, index_path);
        else
            explain_unindexable(path);
        free(fa->path);
        free(fa);
        return NULL;
    }
    /* transcripts revisit the same compressed blocks (exons, CDS, windows): keep decompressed blocks */
    fai_set_cache_size(fa->fai, 64 << 20);
    if (check_index(path, index_path) < 0) {
        iso_fasta_close(fa);
        return NULL;
    }
    if (!had_index)
        iso_info("%s: built FASTA index %s", path, index_path);
    return fa;
}

void iso_fasta_close(iso_fasta *fa)
{
    if (!fa)
        return;
    if (!fa->base)
        fai_destroy(fa->fai);
    free(fa->path);
    free(fa->edit_contig);
    free(fa->edits);
    free(fa->edit_bases);
    free(fa);
}

iso_fasta *iso_fasta_edited(iso_fasta *base, const char *contig, const iso_fasta_edit *edits, int n)
{
    if (base->base) {
        iso_error(ISO_EINVAL, "%s: an edited view cannot be edited again (give all the edits at once)", base->path);
        return NULL;
    }
    /* edits outside the contig (or of a contig not there) gave a view of another length, or none at all */
    const int64_t contig_len = contig && n >= 0 ? iso_fasta_contig_len(base, contig) : -1;
    if (contig_len < 0) {
        iso_error(n < 0 ? ISO_EINVAL : ISO_ENOTFOUND, "%s: cannot edit %s%s%s with %d edits", base->path,
                  contig ? "contig '" : "no contig", contig ? contig : "", contig ? "'" : "", n);
        return NULL;
    }
    iso_fasta *v = calloc(1, sizeof *v);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (edits[i].start < 0 || edits[i].start > edits[i].end || edits[i].end > contig_len || edits[i].len < 0 ||
            (edits[i].len && !edits[i].seq) || (i && edits[i].start < edits[i - 1].end)) {
            iso_error(ISO_EINVAL, "%s: edit %d of %s (%lld-%lld) is reversed, outside the contig's %lld bases, without "
                                  "its bases or overlaps the one before", base->path, i, contig,
                      (long long)edits[i].start, (long long)edits[i].end, (long long)contig_len);
            free(v);
            return NULL;
        }
        total += edits[i].len;
    }
    if (!v || !(v->path = strdup(base->path)) || !(v->edit_contig = strdup(contig)) ||
        !(v->edits = malloc((size_t)(n ? n : 1) * sizeof *v->edits)) || !(v->edit_bases = malloc((size_t)total + 1))) {
        iso_fasta_close(v);
        iso_error(ISO_ENOMEM, "%s: out of memory for an edited view", base->path);
        return NULL;
    }
    v->base = base;
    v->fai = base->fai;
    v->n_edits = n;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        v->edits[i] = edits[i];
        memcpy(v->edit_bases + at, edits[i].seq, (size_t)edits[i].len);
        v->edits[i].seq = v->edit_bases + at;
        at += edits[i].len;
        v->delta += edits[i].len - (edits[i].end - edits[i].start);
    }
    return v;
}

const char *iso_fasta_path(const iso_fasta *fa) { return fa->path; }
int iso_fasta_is_edited(const iso_fasta *fa) { return fa->base != NULL; }
int iso_fasta_ncontigs(const iso_fasta *fa) { return faidx_nseq(fa->fai); }
const char *iso_fasta_contig_name(const iso_fasta *fa, int i)
{
    return i >= 0 && i < faidx_nseq(fa->fai) ? faidx_iseq(fa->fai, i) : NULL; /* htslib does not check i */
}

int64_t iso_fasta_contig_len(const iso_fasta *fa, const char *contig)
{
    if (!faidx_has_seq(fa->fai, contig))
        return -1;
    int64_t len = faidx_seq_len(fa->fai, contig);
    return fa->base && !strcmp(contig, fa->edit_contig) ? len + fa->delta : len;
}

/* Copies the part of the edited interval [piece, piece + len) that falls in [start, end) into out (out[0] is
 * base start): from the reference at ref_start when src is NULL, else from src. */
static int copy_piece(iso_fasta *base, const char *contig, int64_t piece, int64_t len, int64_t ref_start,
                      const char *src, int64_t start, int64_t end, char *out)
{
    int64_t lo = piece > start ? piece : start, hi = piece + len < end ? piece + len : end;
    if (lo >= hi)
        return ISO_OK;
    if (src) {
        memcpy(out + (lo - start), src + (lo - piece), (size_t)(hi - lo));
        return ISO_OK;
    }
    char *ref;
    int rc = iso_fasta_fetch(base, contig, ref_start + (lo - piece), ref_start + (hi - piece), &ref);
    if (rc == ISO_OK)
        memcpy(out + (lo - start), ref, (size_t)(hi - lo));
    free(ref);
    return rc;
}

/* [start, end) of the edited contig: reference stretches between the edits, and the edits' bases. */
static int fetch_edited(iso_fasta *v, int64_t start, int64_t end, char **seq)
{
    char *out = malloc((size_t)(end - start) + 1);
    if (!out)
        return iso_error(ISO_ENOMEM, "%s: out of memory for %lld bases", v->path, (long long)(end - start));
    out[end - start] = '\0';
    int64_t shift = 0, ref_from = start < 0 ? start : 0; /* edited = reference + shift before the next edit */
    int rc = ISO_OK;
    for (int i = 0; rc == ISO_OK && i <= v->n_edits; i++) {
        const iso_fasta_edit *e = i < v->n_edits ? &v->edits[i] : NULL;
        int64_t ref_to = e ? e->start : (end - shift > ref_from ? end - shift : ref_from);
        rc = copy_piece(v->base, v->edit_contig, ref_from + shift, ref_to - ref_from, ref_from, NULL, start, end, out);
        if (rc == ISO_OK && e) {
            rc = copy_piece(v->base, v->edit_contig, e->start + shift, e->len, 0, e->seq, start, end, out);
            shift += e->len - (e->end - e->start);
            ref_from = e->end;
        }
    }
    if (rc != ISO_OK) {
        free(out);
        return rc;
    }
    *seq = out;
    return ISO_OK;
}

int iso_fasta_fetch(iso_fasta *fa, const char *contig, int64_t start, int64_t end, char **seq)
{
    *seq = NULL;
    if (fa->base && !strcmp(contig, fa->edit_contig) && end >= start)
        return fetch_edited(fa, start, end, seq);
    int64_t clen = iso_fasta_contig_len(fa, contig);
    if (clen < 0)
        return iso_error(ISO_ENOTFOUND, "%s: no contig '%s' in the FASTA", fa->path, contig);
    if (end < start)
        return iso_error(ISO_EINVAL, "%s: bad interval %s:%lld-%lld (end before start)", fa->path, contig,
                         (long long)start, (long long)end);
    char *out = malloc((size_t)(end - start) + 1);
    if (!out)
        return iso_error(ISO_ENOMEM, "%s: out of memory for %lld bases", fa->path, (long long)(end - start));
    memset(out, 'N', (size_t)(end - start));
    out[end - start] = '\0';
    int64_t lo = start < 0 ? 0 : start, hi = end > clen ? clen : end;
    if (lo < hi) {
        hts_pos_t got = 0;
        char *s = faidx_fetch_seq64(fa->fai, contig, lo, hi - 1, &got);
        if (!s || got != hi - lo) {
            free(s);
            free(out);
            return iso_error(ISO_EIO, "%s: cannot read %s:%lld-%lld (truncated or corrupt FASTA or index?)",
                             fa->path, contig, (long long)lo + 1, (long long)hi);
        }
        memcpy(out + (lo - start), s, (size_t)got);
        free(s);
    }
    *seq = out;
    return ISO_OK;
}
