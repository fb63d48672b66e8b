/* quant's outputs: quant.sf, the gene table, coverage bigWigs (read back when closed) and the
 * bootstrap replicates in salmon's layout, committed as one set. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "isoformer/io.h"
#include "isoformer/outputs.h"
#include "isoformer/quant.h"

#define MAX_OUTPUTS 8

/* The outputs, written to temporaries and committed as one output set (iso_out_set_begin): all or none. The
 * directories made for them (aux_info/, aux_info/bootstrap/) go too when the set fails. */
typedef struct {
    iso_out *o[MAX_OUTPUTS];
    char path[MAX_OUTPUTS][4096];
    int n;
    char made[2][4200];
    int n_made;
} out_set;

static iso_out *set_open(out_set *s, const char *prefix, const char *suffix)
{
    if ((size_t)snprintf(s->path[s->n], sizeof s->path[s->n], "%s%s", prefix, suffix) >= sizeof s->path[s->n]) {
        iso_error(ISO_EINVAL, "%s: output prefix too long", prefix);
        return NULL;
    }
    iso_out *o = iso_out_open(s->path[s->n]);
    if (o)
        s->o[s->n++] = o;
    return o;
}

static int checked(iso_out *o, const char *path)
{
    return ferror(iso_out_fp(o)) ? iso_error(ISO_EIO, "%s: write failed", path) : ISO_OK;
}

static int write_sf(out_set *s, const char *prefix, const iso_annotation *ann, const iso_quant_result *r)
{
    iso_out *o = set_open(s, prefix, ".quant.sf");
    if (!o)
        return iso_last_status();
    FILE *fp = iso_out_fp(o);
    fputs("Name\tLength\tEffectiveLength\tTPM\tNumReads\n", fp);
    for (size_t t = 0; t < r->n; t++)
        fprintf(fp, "%s\t%lld\t%.3f\t%.6f\t%.3f\n", ann->tx[t].transcript_id, (long long)r->length[t],
                r->eff_length[t], r->tpm[t], r->num_reads[t]);
    return checked(o, s->path[s->n - 1]);
}

/* Genes sorted by id, each with the sums of its transcripts. */
static int write_genes(out_set *s, const char *prefix, const iso_annotation *ann, const iso_quant_result *r)
{
    iso_genes g;
    int rc = iso_annotation_genes(ann, NULL, 0, ISO_GENES_BY_ID, &g);
    iso_out *o = rc == ISO_OK ? set_open(s, prefix, ".genes.tsv") : NULL;
    if (!o) {
        iso_genes_free(&g);
        return iso_last_status();
    }
    FILE *fp = iso_out_fp(o);
    fputs("gene_id\tgene_name\tTPM\tNumReads\n", fp);
    for (size_t k = 0; k < g.n_genes; k++) {
        const iso_transcript *tx = &ann->tx[g.idx[g.first[k]]];
        double tpm = 0, reads = 0;
        for (size_t i = g.first[k]; i < g.first[k + 1]; i++) {
            tpm += r->tpm[g.idx[i]];
            reads += r->num_reads[g.idx[i]];
        }
        fprintf(fp, "%s\t%s\t%.6f\t%.3f\n", tx->gene_id, tx->gene_name ? tx->gene_name : "", tpm, reads);
    }
    iso_genes_free(&g);
    return checked(o, s->path[s->n - 1]);
}

/* One coverage bigWig, depth scaled to per million assigned fragments. */
static int write_coverage(out_set *s, const char *prefix, const char *suffix, const iso_quant_result *r, int track)
{
    iso_out *o = set_open(s, prefix, suffix);
    if (!o)
        return iso_last_status();
    iso_bigwig *bw = NULL;
    double scale = r->assigned_weight > 0 ? 1e6 / r->assigned_weight : 0;
    int rc = iso_bigwig_open(o, (const char *const *)r->contig, r->contig_len, r->n_contigs, &bw);
    size_t n_spans = 0;
    for (int c = 0; c < r->n_contigs; c++)
        n_spans += r->coverage[track * r->n_contigs + c].n;
    /* libBigWig writes no index for a file without data, and readers (bx-python, UCSC's) refuse such a file: a
     * track without coverage (the empty strand of a stranded library) says so with one base of depth 0. */
    if (rc == ISO_OK && !n_spans && r->n_contigs) {
        rc = iso_bigwig_write_chrom(bw, r->contig[0], &(iso_span){0, 1, 0.0f}, 1);
    }
    for (int c = 0; rc == ISO_OK && c < r->n_contigs; c++) {
        const struct iso_span_list *l = &r->coverage[track * r->n_contigs + c];
        if (!l->n)
            continue;
        iso_span *scaled = malloc(l->n * sizeof *scaled);
        if (!scaled) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < l->n; i++)
            scaled[i] = (iso_span){l->spans[i].start, l->spans[i].end, (float)(l->spans[i].value * scale)};
        rc = iso_bigwig_write_chrom(bw, r->contig[c], scaled, l->n);
        free(scaled);
    }
    int closed = iso_bigwig_close(bw); /* read back: a full disk shows there */
    return rc == ISO_OK ? closed : rc;
}

/* ---- bootstrap replicates, salmon's layout (tximport's and fishpond's readers) ---- */

/* gzip of len bytes into the output (tximport reads it through R's gzcon: a single gzip member). */
static int write_gzip(iso_out *o, const char *path, const void *data, size_t len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return iso_error(ISO_ENOMEM, "%s: cannot start gzip", path);
    unsigned char buf[1 << 16];
    z.next_in = (unsigned char *)data;
    int zr = Z_OK;
    size_t left = len;
    do {
        uInt chunk = left > (1u << 30) ? 1u << 30 : (uInt)left;
        z.avail_in = chunk;
        left -= chunk;
        do {
            z.next_out = buf;
            z.avail_out = sizeof buf;
            zr = deflate(&z, left ? Z_NO_FLUSH : Z_FINISH);
            fwrite(buf, 1, sizeof buf - z.avail_out, iso_out_fp(o));
        } while (z.avail_out == 0);
    } while (left);
    deflateEnd(&z);
    return zr == Z_STREAM_END ? checked(o, path) : iso_error(ISO_EIO, "%s: gzip failed", path);
}

/* Makes the directory named in s->made[s->n_made], counted there only when this run created it (to go again if
 * the set fails). */
static int make_dir(out_set *s)
{
    const char *path = s->made[s->n_made];
    if (mkdir(path, 0777) == 0)
        s->n_made++;
    else if (errno != EEXIST)
        return iso_error(ISO_EIO, "%s: cannot create the directory (%s)", path, strerror(errno));
    return ISO_OK;
}

/* salmon's layout holds one sample per directory: aux_info/ and cmd_info.json beside PREFIX.quant.sf belong to
 * the directory, not the prefix. Those of another sample (or tool) are not replaced: a second quant -B into the
 * same directory silently replaced the first sample's bootstraps. cmd_info.json names the prefix that wrote it. */
static int check_aux_owner(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/cmd_info.json", dir);
    if (access(path, F_OK) != 0)
        return ISO_OK;
    json_t *root = json_load_file(path, 0, NULL);
    const char *owner = json_string_value(json_object_get(root, "isoformer_prefix"));
    int rc = owner && !strcmp(owner, name)
                 ? ISO_OK
                 : iso_error(ISO_EINVAL, "%s: holds the bootstraps of %s%s%s: salmon's layout keeps one sample per "
                                         "directory; give this one its own (e.g. --out %s/%s/%s)",
                             path, owner ? "sample '" : "another run", owner ? owner : "", owner ? "'" : "", dir,
                             name, name);
    json_decref(root);
    return rc;
}

static int write_bootstraps(out_set *s, const char *prefix, const iso_annotation *ann, const iso_quant_result *r)
{
    char dir[4096], copy[4096], name[4096];
    snprintf(copy, sizeof copy, "%s", prefix);
    snprintf(dir, sizeof dir, "%s", dirname(copy));
    snprintf(copy, sizeof copy, "%s", prefix);
    snprintf(name, sizeof name, "%s", basename(copy));
    int rc = check_aux_owner(dir, name);
    for (int i = 0; rc == ISO_OK && i < 2; i++)
        rc = (size_t)snprintf(s->made[s->n_made], sizeof s->made[0], "%s/aux_info%s", dir, i ? "/bootstrap" : "") <
                     sizeof s->made[0]
                 ? make_dir(s)
                 : iso_error(ISO_EINVAL, "%s: output prefix too long", prefix);
    iso_out *o = rc == ISO_OK ? set_open(s, dir, "/aux_info/bootstrap/bootstraps.gz") : NULL;
    if (rc == ISO_OK && !o)
        rc = iso_last_status();
    if (rc == ISO_OK) /* doubles, replicate after replicate, each in quant.sf's row order */
        rc = write_gzip(o, s->path[s->n - 1], r->bootstrap, (size_t)r->n_bootstraps * r->n * sizeof *r->bootstrap);
    /* names.tsv.gz: the transcript names on one tab-separated line */
    size_t len = 0;
    for (size_t t = 0; t < r->n; t++)
        len += strlen(ann->tx[t].transcript_id) + 1;
    char *names = rc == ISO_OK ? malloc(len + 1) : NULL, *p = names;
    if (rc == ISO_OK && !names)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    for (size_t t = 0; names && t < r->n; t++)
        p += sprintf(p, "%s%s", t ? "\t" : "", ann->tx[t].transcript_id);
    if (names)
        *p++ = '\n';
    if (rc == ISO_OK && !(o = set_open(s, dir, "/aux_info/bootstrap/names.tsv.gz")))
        rc = iso_last_status();
    if (rc == ISO_OK)
        rc = write_gzip(o, s->path[s->n - 1], names, (size_t)(p - names));
    free(names);
    if (rc == ISO_OK && !(o = set_open(s, dir, "/aux_info/meta_info.json")))
        rc = iso_last_status();
    if (rc == ISO_OK) {
        fprintf(iso_out_fp(o), "{\n  \"salmon_version\": \"1.10.1\",\n  \"quantifier\": \"isoformer quant %s\",\n"
                               "  \"samp_type\": \"bootstrap\",\n  \"num_bootstraps\": %d,\n  \"num_targets\": %zu,\n"
                               "  \"num_valid_targets\": %zu,\n  \"num_processed\": %zu,\n  \"num_mapped\": %zu,\n"
                               "  \"frag_length_mean\": %.3f,\n  \"frag_length_sd\": %.3f\n}\n",
                ISOFORMER_VERSION, r->n_bootstraps, r->n, r->n, r->n_fragments, r->n_assigned, r->frag_mean,
                r->frag_sd);
        rc = checked(o, s->path[s->n - 1]);
    }
    /* tximport looks for cmd_info.json first (it may name another aux directory) */
    if (rc == ISO_OK && !(o = set_open(s, dir, "/cmd_info.json")))
        rc = iso_last_status();
    if (rc == ISO_OK) {
        json_t *prefix_name = json_string(name); /* escaped as JSON wants */
        char *quoted = prefix_name ? json_dumps(prefix_name, JSON_ENCODE_ANY) : NULL;
        fprintf(iso_out_fp(o), "{\n  \"salmon_version\": \"1.10.1\",\n  \"auxDir\": \"aux_info\",\n"
                               "  \"numBootstraps\": \"%d\",\n  \"isoformer_prefix\": %s\n}\n", r->n_bootstraps,
                quoted ? quoted : "null");
        free(quoted);
        json_decref(prefix_name);
        rc = checked(o, s->path[s->n - 1]);
    }
    return rc;
}

int iso_quant_write(const char *prefix, const iso_annotation *ann, const iso_quant_result *r)
{
    out_set s = {0};
    int rc = iso_out_set_begin();
    if (rc != ISO_OK)
        return rc;
    rc = write_sf(&s, prefix, ann, r);
    if (rc == ISO_OK)
        rc = write_genes(&s, prefix, ann, r);
    if (rc == ISO_OK && r->coverage && r->n_tracks == 1)
        rc = write_coverage(&s, prefix, ".coverage.bw", r, 0);
    if (rc == ISO_OK && r->coverage && r->n_tracks == 2)
        rc = write_coverage(&s, prefix, ".coverage.plus.bw", r, 0);
    if (rc == ISO_OK && r->coverage && r->n_tracks == 2)
        rc = write_coverage(&s, prefix, ".coverage.minus.bw", r, 1);
    if (rc == ISO_OK && r->n_bootstraps > 0)
        rc = write_bootstraps(&s, prefix, ann, r);
    for (int i = 0; i < s.n; i++) /* in a set, a commit completes the file; the set's end renames them all */
        if (rc == ISO_OK)
            rc = iso_out_commit(s.o[i]);
        else
            iso_out_abort(s.o[i]);
    int ended = iso_out_set_end(rc == ISO_OK);
    rc = rc == ISO_OK ? ended : rc;
    while (rc != ISO_OK && s.n_made) /* innermost first; rmdir leaves a directory that holds anything */
        rmdir(s.made[--s.n_made]);
    return rc;
}
