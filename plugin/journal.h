/* The predict journal: each finished transcript's results appended (synced within a second) to PREFIX.journal, so a run
 * killed or preempted part-way continues with --resume and writes exactly what an uninterrupted run writes
 * (values are stored as hexadecimal floats, which round-trip bit for bit). Its first line names the format
 * version and the run's signature; each record ends with its CRC-32, so a torn, damaged or non-finite record
 * is dropped (with a warning) and its transcript computed again, never resumed into the outputs. The caller
 * holds the prefix's lock (cli_lock_out) from before cli_journal_open until the outputs are in place: two runs
 * on one journal would each replace it by rename and append to their own copy. */
#ifndef ISOFORMER_PLUGIN_JOURNAL_H
#define ISOFORMER_PLUGIN_JOURNAL_H

#include <stddef.h>

#include "isoformer/annotation.h"

typedef struct cli_journal cli_journal;

/* Opens PREFIX.journal. signature describes everything the results depend on (model checksum, options); on
 * resume, a journal with another signature, of another format version, or not a journal at all is an error
 * naming the fix. With resume, the rows already done are read into a[row * na] and their nb values of b into the
 * journal's row store (cli_journal_row); done[row] set, *n_done counted; damaged
 * records (a truncated last line: the crash) are dropped. Without resume, any old journal is replaced. The
 * journal is rewritten through a temporary of this process (iso_out). sel/n_sel are the selected rows. */
int cli_journal_open(const char *prefix, const char *signature, int resume, const iso_annotation *ann,
                     const size_t *sel, size_t n_sel, float *a, int na, int nb, char *done, size_t *n_done,
                     cli_journal **out);
/* Appends one finished transcript (row of the selection; a: na values, b: nb), flushed at once and synced to
 * disk at most a second later. */
int cli_journal_add(cli_journal *j, size_t row, const char *transcript_id, const float *a, const float *b);
/* The nb values of b of a row added or resumed, read back from the row store: an unlinked binary file beside the
 * journal, fixed-size rows at row * nb, so that a genome's embeddings (250,000 x 3,072 floats, 3 GB) are never
 * held in memory. */
int cli_journal_row(const cli_journal *j, size_t row, float *b);
/* Closes the journal, deleting it when the run completed or when it holds no finished transcript. */
void cli_journal_close(cli_journal *j, int completed);

#endif
