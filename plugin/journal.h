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
 * naming the fix. With resume, the rows already done are read into a[row * na], b[row * nb] (b may be NULL
 * when nb is 0), done[row] set, *n_done counted; damaged records (a truncated last line: the crash) are dropped.
 * Without resume, any old journal is replaced. The journal is rewritten through a temporary of this process
 * (iso_out). sel/n_sel are the selected rows. */
int cli_journal_open(const char *prefix, const char *signature, int resume, const iso_annotation *ann,
                     const size_t *sel, size_t n_sel, float *a, int na, float *b, int nb, char *done,
                     size_t *n_done, cli_journal **out);
/* Appends one finished transcript and syncs it to disk. */
int cli_journal_add(cli_journal *j, const char *transcript_id, const float *a, int na, const float *b, int nb);
/* Closes the journal, deleting it when the run completed or when it holds no finished transcript. */
void cli_journal_close(cli_journal *j, int completed);

#endif
