/* Contig-name aliases (UCSC chromAlias) and the check that an annotation's contigs exist in the FASTA. */
#include "isoformer/annotation.h"

#include <stdlib.h>
#include <string.h>

#include <htslib/khash.h>

#include "isoformer/io.h"

typedef struct {
    char *name; /* the FASTA name */
    long line;  /* where the alias was given */
} alias_target;

KHASH_MAP_INIT_STR(alias, alias_target)
KHASH_SET_INIT_STR(names)

struct iso_chrom_alias {
    khash_t(alias) *map; /* alternative name -> FASTA name; keys and names owned */
};

void iso_chrom_alias_free(iso_chrom_alias *a)
{
    if (!a)
        return;
    for (khiter_t k = kh_begin(a->map); k != kh_end(a->map); k++)
        if (kh_exist(a->map, k)) {
            free((char *)kh_key(a->map, k));
            free(kh_val(a->map, k).name);
        }
    kh_destroy(alias, a->map);
    free(a);
}

/* An alias given twice for the same name is harmless; for two names, which one is meant cannot be known. */
static int alias_add(iso_chrom_alias *a, const char *alt, const char *name, const char *path, long line)
{
    khiter_t k = kh_get(alias, a->map, alt);
    if (k != kh_end(a->map)) {
        const alias_target *old = &kh_val(a->map, k);
        if (strcmp(old->name, name))
            return iso_error(ISO_EFORMAT, "%s:%ld: '%s' is an alias of '%s' here but of '%s' at line %ld: expected "
                                          "each alias to name one sequence", path, line, alt, name, old->name,
                             old->line);
        return ISO_OK;
    }
    char *key = strdup(alt), *val = strdup(name);
    int absent = -1;
    if (key && val)
        k = kh_put(alias, a->map, key, &absent);
    if (absent < 0) {
        free(key);
        free(val);
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    }
    kh_val(a->map, k) = (alias_target){val, line};
    return ISO_OK;
}

int iso_chrom_alias_load(const char *path, iso_chrom_alias **out)
{
    *out = NULL;
    iso_chrom_alias *a = calloc(1, sizeof *a);
    if (!a || !(a->map = kh_init(alias))) {
        free(a);
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    }
    iso_lines *lr = iso_lines_open(path);
    if (!lr) {
        iso_chrom_alias_free(a);
        return iso_last_status();
    }
    const char *line;
    size_t len;
    int rc;
    while ((rc = iso_lines_next(lr, &line, &len)) > 0) {
        if (len == 0 || line[0] == '#')
            continue;
        char *copy = strdup(line), *save = NULL;
        if (!copy) {
            rc = iso_error(ISO_ENOMEM, "%s: out of memory", path);
            break;
        }
        const char *name = strtok_r(copy, "\t", &save);
        const char *alt;
        int n_alt = 0;
        while (rc >= 0 && (alt = strtok_r(NULL, "\t", &save)) != NULL) {
            n_alt++;
            rc = alias_add(a, alt, name, path, iso_lines_lineno(lr));
        }
        free(copy);
        if (rc < 0)
            break;
        if (!name || n_alt == 0) {
            rc = iso_error(ISO_EFORMAT,
                           "%s:%ld: expected tab-separated names (FASTA name, then its aliases), got '%.60s'", path,
                           iso_lines_lineno(lr), line);
            break;
        }
    }
    iso_lines_close(lr);
    if (rc < 0) {
        iso_chrom_alias_free(a);
        return rc;
    }
    *out = a;
    return ISO_OK;
}

const char *iso_chrom_alias_map(const iso_chrom_alias *a, const char *name)
{
    if (!a)
        return name;
    khiter_t k = kh_get(alias, a->map, name);
    return k == kh_end(a->map) ? name : kh_val(a->map, k).name;
}

/* The FASTA name a missing contig probably stands for, differing by a "chr" prefix (or chrM vs MT). */
static const char *likely_fasta_name(const struct iso_fasta *fa, const char *name)
{
    int n = iso_fasta_ncontigs(fa);
    for (int i = 0; i < n; i++) {
        const char *f = iso_fasta_contig_name(fa, i);
        if ((!strncmp(name, "chr", 3) && !strcmp(name + 3, f)) || (!strncmp(f, "chr", 3) && !strcmp(f + 3, name)) ||
            (!strcmp(name, "chrM") && !strcmp(f, "MT")) || (!strcmp(name, "MT") && !strcmp(f, "chrM")))
            return f;
    }
    return NULL;
}

/* A transcript past its contig's end means annotation and FASTA come from different assemblies. */
static int check_bounds(const iso_annotation *a, const struct iso_fasta *fa)
{
    for (size_t i = 0; i < a->n; i++) {
        const iso_transcript *t = &a->tx[i];
        int64_t len = iso_fasta_contig_len(fa, t->chrom);
        if (t->exons[t->n_exons - 1].end > len)
            return iso_error(ISO_EFORMAT,
                             "%s:%ld: transcript '%s' ends at %s:%lld, past the contig's end (%lld bp) in the FASTA "
                             "%s: are the annotation and the FASTA from the same assembly?",
                             a->path, t->line, t->transcript_id, t->chrom, (long long)t->exons[t->n_exons - 1].end,
                             (long long)len, iso_fasta_path(fa));
    }
    return ISO_OK;
}

int iso_annotation_check_contigs(const iso_annotation *a, const struct iso_fasta *fa)
{
    char missing[512] = "";
    size_t used = 0;
    int n_missing = 0, absent;
    const char *first = NULL;
    khash_t(names) *seen = kh_init(names);
    if (!seen)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (size_t i = 0; i < a->n; i++) {
        const char *c = a->tx[i].chrom;
        if (iso_fasta_contig_len(fa, c) >= 0)
            continue;
        kh_put(names, seen, c, &absent);
        if (absent == 0) /* already listed */
            continue;
        if (!first)
            first = c;
        n_missing++;
        int w = snprintf(missing + used, sizeof missing - used, "%s'%s'", used ? ", " : "", c);
        if (w > 0 && used + (size_t)w < sizeof missing)
            used += (size_t)w;
    }
    kh_destroy(names, seen);
    if (!n_missing)
        return check_bounds(a, fa);
    const char *guess = likely_fasta_name(fa, first);
    char hint[512];
    if (guess)
        snprintf(hint, sizeof hint,
                 "annotation uses '%s', FASTA has '%s': give contig aliases (UCSC chromAlias format: "
                 "tab-separated, FASTA name first, then its aliases, e.g. '%s\\t%s')",
                 first, guess, guess, first);
    else
        snprintf(hint, sizeof hint,
                 "is this the FASTA of the annotation's assembly? If the names differ, give contig aliases "
                 "(UCSC chromAlias format)");
    return iso_error(ISO_ENOTFOUND, "%s: %d contig(s) used by the annotation are missing from the FASTA %s: %s; %s",
                     a->path, n_missing, iso_fasta_path(fa), missing, hint);
}
