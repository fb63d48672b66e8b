/* Choosing the transcripts a command works on: --transcripts (ids or @file), --region CHR:A-B, --shard i/n. */
#ifndef ISOFORMER_PLUGIN_SELECT_H
#define ISOFORMER_PLUGIN_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/annotation.h"

typedef struct {
    const char *transcripts; /* "ID,ID" or "@file" (one id per line), or NULL */
    const char *region;      /* "CHR:START-END", 1-based inclusive, or NULL */
    const char *shard;       /* "i/n", 1-based, or NULL */
} cli_selection;

/* A region "CHR:START-END" (1-based, inclusive) as chrom and [start, end) 0-based; -1 when malformed. */
int cli_region_parse(const char *s, char *chrom, size_t size, int64_t *start, int64_t *end);
/* Checks the syntax of --region and --shard before any file is read; prints a usage error (naming cmd) and
 * returns 2 when wrong, else 0. */
int cli_selection_check(const char *cmd, const cli_selection *s);
/* Indices into ann->tx of the selected transcripts, in annotation order (*sel malloc'd). */
int cli_select(const iso_annotation *ann, const iso_chrom_alias *alias, const cli_selection *s, size_t **sel,
               size_t *n_sel);
/* Checks that the selected transcripts' contigs are in the FASTA (with the chromAlias hint when not). */
int cli_check_contigs(const iso_annotation *ann, const size_t *sel, size_t n_sel, const struct iso_fasta *fa);

/* The inputs every sequence-reading command starts from: aliases (optional), the annotation, the FASTA and
 * the selected transcripts, checked against each other. */
typedef struct {
    iso_chrom_alias *alias;
    iso_annotation *ann;
    struct iso_fasta *fa;
    size_t *sel, n_sel;
} cli_inputs;
int cli_inputs_load(const char *gtf, const char *alias_path, const char *fasta, const cli_selection *s,
                    cli_inputs *in);
void cli_inputs_free(cli_inputs *in);

/* The transcripts (ids, genes, spans) listed in an isoformer predictions or embeddings TSV, as an annotation,
 * for commands that can work without the GTF. */
int cli_annotation_from_tsv(const char *path, iso_annotation **out);

#endif
