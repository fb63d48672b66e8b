#include "select.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/io.h"
#include "isoformer/outputs.h"

typedef struct {
    char chrom[256];
    int64_t start, end; /* 0-based half-open */
} region;

/* A 1-based position: digits only, within int64 (strtoll saturates silently on overflow: ERANGE is checked). */
static int parse_pos(const char *s, char **end, long long *v)
{
    errno = 0;
    *v = strtoll(s, end, 10);
    return *s >= '0' && *s <= '9' && *end != s && errno == 0 && *v >= 1;
}

static int parse_region(const char *s, region *r)
{
    const char *colon = strrchr(s, ':');
    char *dash, *end;
    long long a, b;
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof r->chrom || !parse_pos(colon + 1, &dash, &a) ||
        *dash != '-' || !parse_pos(dash + 1, &end, &b) || *end || b < a)
        return -1;
    memcpy(r->chrom, s, (size_t)(colon - s));
    r->chrom[colon - s] = '\0';
    r->start = a - 1;
    r->end = b;
    return 0;
}

int cli_region_parse(const char *s, char *chrom, size_t size, int64_t *start, int64_t *end)
{
    region r;
    if (parse_region(s, &r) < 0)
        return -1;
    snprintf(chrom, size, "%s", r.chrom);
    *start = r.start;
    *end = r.end;
    return 0;
}

int cli_selection_check(const char *cmd, const cli_selection *s)
{
    region r;
    int i, n;
    if (s->region && parse_region(s->region, &r) < 0)
        return cli_usage_error(cmd, "--region: expected CHR:START-END (1-based, 1 <= START <= END < 2^63), got '%s'",
                               s->region);
    if (s->shard && iso_shard_parse(s->shard, &i, &n) != ISO_OK)
        return cli_usage_error(cmd, "--shard: %s", iso_last_error());
    return 0;
}

static int mark_id(const iso_annotation *ann, const char *id, char *mark, const char *where, long line)
{
    long i = iso_annotation_find(ann, id);
    if (i < 0)
        return line ? iso_error(ISO_ENOTFOUND, "%s:%ld: transcript '%s' is not in %s", where, line, id, ann->path)
                    : iso_error(ISO_ENOTFOUND, "--transcripts: transcript '%s' is not in %s", id, ann->path);
    mark[i] = 1;
    return ISO_OK;
}

/* A list that names no transcript is refused: selecting nothing is never what was meant (an empty shell
 * variable, an empty id file). */
static int select_ids(const iso_annotation *ann, const char *list, char *mark)
{
    size_t n_ids = 0;
    int rc = ISO_OK;
    if (list[0] == '@') {
        iso_lines *lr = iso_lines_open(list + 1);
        if (!lr)
            return iso_last_status();
        const char *line;
        size_t len;
        while ((rc = iso_lines_next(lr, &line, &len)) > 0) {
            if (!len || line[0] == '#')
                continue;
            n_ids++;
            if ((rc = mark_id(ann, line, mark, list + 1, iso_lines_lineno(lr))) < 0)
                break;
        }
        iso_lines_close(lr);
        if (rc < 0)
            return rc;
        return n_ids ? ISO_OK : iso_error(ISO_EINVAL, "--transcripts: %s lists no transcript id", list + 1);
    }
    char *text = strdup(list), *save = NULL;
    if (!text)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (char *id = strtok_r(text, ",", &save); id && rc == ISO_OK; id = strtok_r(NULL, ",", &save), n_ids++)
        rc = mark_id(ann, id, mark, NULL, 0);
    free(text);
    if (rc == ISO_OK && !n_ids)
        rc = iso_error(ISO_EINVAL, "--transcripts: '%s' names no transcript id", list);
    return rc;
}

int cli_region_check_contig(const iso_annotation *ann, const iso_chrom_alias *alias, const struct iso_fasta *fa,
                               const char *region_chrom)
{
    const char *chrom = iso_chrom_alias_map(alias, region_chrom);
    if (iso_fasta_contig_len(fa, chrom) >= 0)
        return ISO_OK;
    for (size_t i = 0; i < ann->n; i++)
        if (!strcmp(ann->tx[i].chrom, chrom))
            return ISO_OK;
    return iso_error(ISO_ENOTFOUND, "--region: contig '%s' is in neither %s nor %s", region_chrom, ann->path,
                     iso_fasta_path(fa));
}

/* Indices into ann->tx of the selected transcripts, in annotation order (*sel malloc'd). */
static int select_rows(const iso_annotation *ann, const iso_chrom_alias *alias, const struct iso_fasta *fa,
                       const cli_selection *s, const iso_cost_model *costs, size_t **sel, size_t *n_sel)
{
    size_t n = ann->n ? ann->n : 1;
    char *mark = calloc(n, 1), *in_shard = calloc(n, 1);
    *sel = malloc(n * sizeof **sel);
    *n_sel = 0;
    if (!mark || !in_shard || !*sel) {
        free(mark);
        free(in_shard);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    region reg;
    int have_region = s->region && parse_region(s->region, &reg) == 0;
    int rc = have_region ? cli_region_check_contig(ann, alias, fa, reg.chrom) : ISO_OK;
    if (rc == ISO_OK && s->transcripts)
        rc = select_ids(ann, s->transcripts, mark);
    if (rc == ISO_OK && s->shard) {
        int index, n_shards;
        size_t *rows = NULL, n_rows = 0;
        rc = iso_shard_parse(s->shard, &index, &n_shards);
        if (rc == ISO_OK)
            rc = iso_annotation_shard(ann, costs, index, n_shards, &rows, &n_rows);
        for (size_t i = 0; rc == ISO_OK && i < n_rows; i++)
            in_shard[rows[i]] = 1;
        free(rows);
    }
    for (size_t i = 0; rc == ISO_OK && i < ann->n; i++) {
        const iso_transcript *t = &ann->tx[i];
        if ((s->transcripts && !mark[i]) || (s->shard && !in_shard[i]))
            continue;
        if (have_region && (strcmp(t->chrom, iso_chrom_alias_map(alias, reg.chrom)) ||
                            t->exons[t->n_exons - 1].end <= reg.start || t->exons[0].start >= reg.end))
            continue;
        (*sel)[(*n_sel)++] = i;
    }
    free(mark);
    free(in_shard);
    return rc;
}

/* Checks that the selected transcripts' contigs are in the FASTA (with the chromAlias hint when not). */
static int check_contigs(const iso_annotation *ann, const size_t *sel, size_t n_sel, const struct iso_fasta *fa)
{
    iso_annotation selected = {.n = n_sel, .path = ann->path, .tx = malloc((n_sel ? n_sel : 1) * sizeof *ann->tx)};
    if (!selected.tx)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_sel; i++)
        selected.tx[i] = ann->tx[sel[i]];
    int rc = iso_annotation_check_contigs(&selected, fa);
    free(selected.tx);
    return rc == ISO_ENOTFOUND ? cli_hint("pass them with --chrom-alias FILE") : rc;
}

int cli_inputs_open(const char *gtf, const char *alias_path, const char *fasta, cli_inputs *in)
{
    *in = (cli_inputs){0};
    int rc;
    if ((alias_path && (rc = iso_chrom_alias_load(alias_path, &in->alias)) < 0) ||
        (rc = iso_annotation_read(gtf, in->alias, &in->ann)) < 0)
        return rc;
    return (in->fa = iso_fasta_open(fasta)) ? ISO_OK : iso_last_status();
}

int cli_inputs_select(cli_inputs *in, const cli_selection *s, const iso_cost_model *costs)
{
    int rc = select_rows(in->ann, in->alias, in->fa, s, costs, &in->sel, &in->n_sel);
    return rc < 0 ? rc : check_contigs(in->ann, in->sel, in->n_sel, in->fa);
}

void cli_inputs_free(cli_inputs *in)
{
    free(in->sel);
    iso_fasta_close(in->fa);
    iso_annotation_free(in->ann);
    iso_chrom_alias_free(in->alias);
    *in = (cli_inputs){0};
}

int cli_annotation_from_tsv(const char *path, iso_annotation **out)
{
    int rc = iso_tsv_read_annotation(path, out);
    return rc == ISO_EFORMAT ? cli_hint("pass --gtf") : rc;
}
