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
/* ISO_OK when the region's contig (chrom, before aliases) is in the annotation or the FASTA; else ISO_ENOTFOUND: a
 * typo or a naming mismatch (chr1 / 1), not an empty region. */
struct iso_fasta;
int cli_region_check_contig(const iso_annotation *ann, const iso_chrom_alias *alias, const struct iso_fasta *fa,
                            const char *chrom);
/* Checks the syntax of --region and --shard before any file is read; prints a usage error (naming cmd) and
 * returns 2 when wrong, else 0. */
int cli_selection_check(const char *cmd, const cli_selection *s);
/* The inputs every sequence-reading command starts from: aliases (optional), the annotation, the FASTA and
 * the selected transcripts (indices into ann->tx, in annotation order), checked against each other. */
typedef struct {
    iso_chrom_alias *alias;
    iso_annotation *ann;
    struct iso_fasta *fa;
    size_t *sel, n_sel;
} cli_inputs;
int cli_inputs_open(const char *gtf, const char *alias_path, const char *fasta, cli_inputs *in);
/* Selects the transcripts (a shard priced by costs, which only --shard needs) and checks their contigs against
 * the FASTA. */
int cli_inputs_select(cli_inputs *in, const cli_selection *s, const iso_cost_model *costs);
void cli_inputs_free(cli_inputs *in);

/* The transcripts (ids, genes, spans) listed in an isoformer predictions or embeddings TSV, as an annotation,
 * for commands that can work without the GTF. */
int cli_annotation_from_tsv(const char *path, iso_annotation **out);

#endif
