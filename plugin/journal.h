/* The predict journal: each finished transcript's results appended (and synced) to PREFIX.journal, so a run
 * killed or preempted part-way continues with --resume and writes exactly what an uninterrupted run writes
 * (values are stored as hexadecimal floats, which round-trip bit for bit). */
#ifndef ISOFORMER_PLUGIN_JOURNAL_H
#define ISOFORMER_PLUGIN_JOURNAL_H

#include <stddef.h>

#include "isoformer/annotation.h"

typedef struct cli_journal cli_journal;

/* Opens PREFIX.journal. signature describes everything the results depend on (model checksum, options); a
 * journal with another signature is refused on resume. With resume, the rows already done are read into
 * a[row * na], b[row * nb] (b may be NULL when nb is 0), done[row] set, *n_done counted; a truncated last line
 * (the crash) is ignored. Without resume, any old journal is replaced. sel/n_sel are the selected rows. */
int cli_journal_open(const char *prefix, const char *signature, int resume, const iso_annotation *ann,
                     const size_t *sel, size_t n_sel, float *a, int na, float *b, int nb, char *done,
                     size_t *n_done, cli_journal **out);
/* Appends one finished transcript and syncs it to disk. */
int cli_journal_add(cli_journal *j, const char *transcript_id, const float *a, int na, const float *b, int nb);
/* Closes the journal, deleting it when the run completed or when it holds no finished transcript. */
void cli_journal_close(cli_journal *j, int completed);

#endif
