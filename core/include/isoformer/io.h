/* Input and output primitives: line reading of plain or gzipped text, the reference FASTA through htslib's
 * faidx, and atomic output files that appear only when complete. */
#ifndef ISOFORMER_IO_H
#define ISOFORMER_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- text lines, plain or gzip/bgzip (through htslib's BGZF) ---- */
typedef struct iso_lines iso_lines;
/* Opens path for reading; "-" is stdin. Returns NULL and sets the error on failure. */
ISO_API
iso_lines *iso_lines_open(const char *path);
/* Reads the next line without its "\n" or "\r\n" into an internal buffer (valid until the next call).
 * Returns 1 on a line, 0 at end of file, a negative iso_status on a read or decompression error
 * (message names the file and line). */
ISO_API
int iso_lines_next(iso_lines *lr, const char **line, size_t *len) ISO_RESULT;
/* 1-based number of the line last returned. */
ISO_API
long iso_lines_lineno(const iso_lines *lr);
ISO_API
const char *iso_lines_path(const iso_lines *lr);
ISO_API
void iso_lines_close(iso_lines *lr);

/* ---- reference FASTA: plain or bgzipped, indexed by .fai (and .gzi); index built when absent ----
 * Opening checks the index against the file (every record's header, line length and last base), so a stale
 * .fai (the FASTA rewrapped or edited after indexing) or a sequence name used twice is an error naming the fix,
 * not silently wrong bases; so is a bgzipped FASTA without its BGZF end-of-file block (truncated). */
typedef struct iso_fasta iso_fasta;
ISO_API
iso_fasta *iso_fasta_open(const char *path);
ISO_API
void iso_fasta_close(iso_fasta *fa);
ISO_API
const char *iso_fasta_path(const iso_fasta *fa);
/* Whether fa is an edited view (iso_fasta_edited) rather than a file's own handle. */
ISO_API
int iso_fasta_is_edited(const iso_fasta *fa);
ISO_API
int iso_fasta_ncontigs(const iso_fasta *fa);
/* Name of contig i (0 <= i < iso_fasta_ncontigs), or NULL when i is out of range. */
ISO_API
const char *iso_fasta_contig_name(const iso_fasta *fa, int i);
/* Length of a contig, or -1 when the FASTA has no such contig. */
ISO_API
int64_t iso_fasta_contig_len(const iso_fasta *fa, const char *contig);
/* Fetches [start, end) (0-based, half-open; may extend past either contig end, which is filled with 'N'), as
 * the file has it (soft-masked lowercase and IUPAC codes kept), into a malloc'd NUL-terminated string the caller
 * frees. Thread-safe per iso_fasta handle only under the caller's lock. */
ISO_API
int iso_fasta_fetch(iso_fasta *fa, const char *contig, int64_t start, int64_t end, char **seq) ISO_RESULT;

/* ---- an edited view of a FASTA: the sequence with replacements applied on the fly ----
 * On one contig, edit i replaces the reference bases [start, end) by its len bases of seq (len 0 deletes;
 * start == end inserts before start). Edits are sorted by start and do not overlap (end <= next start; several
 * insertions at one point are inserted in their order). The view reads the edited sequence: its coordinates,
 * contig length and fetches are those of the edited contig (other contigs read as in base), so every extractor
 * works on it unchanged. The edits are copied; base (not itself a view) must outlive the view, which shares its faidx handle (and
 * its locking rule); iso_fasta_close() frees the view only. */
typedef struct {
    int64_t start, end;
    const char *seq;
    int64_t len;
} iso_fasta_edit;
ISO_API
iso_fasta *iso_fasta_edited(iso_fasta *base, const char *contig, const iso_fasta_edit *edits, int n);

/* ---- atomic output files ----
 * iso_out_open() creates "<path>.tmp.<host>.<pid>" in the same directory; iso_out_commit() flushes, checks every
 * write, syncs, closes and renames it over path; iso_out_abort() removes the temporary. */
typedef struct iso_out iso_out;
ISO_API
iso_out *iso_out_open(const char *path);
ISO_API
FILE *iso_out_fp(iso_out *o);
/* Path of the temporary file (for writers such as libBigWig that open files by name themselves). */
ISO_API
const char *iso_out_tmp_path(const iso_out *o);
/* The path the file is committed to. */
ISO_API
const char *iso_out_path(const iso_out *o);
ISO_API
int iso_out_commit(iso_out *o) ISO_RESULT;
ISO_API
void iso_out_abort(iso_out *o);

/* Output sets: a run's outputs appear all together or not at all. Between iso_out_set_begin() and
 * iso_out_set_end() on a thread, iso_out_commit() of the files that thread opened only completes them (every
 * write, the sync and the close checked) and keeps them under their temporary names. iso_out_set_end(1) then
 * renames them all into place; should a rename fail, the ones already renamed are removed again, and the files of
 * an earlier run they replaced are put back (kept as hard links until the set is in place).
 * iso_out_set_end(0) removes them all. A signal arriving while a set is renamed waits for the renames
 * (iso_out_cleanup_all returns 0). Sets do not nest. */
ISO_API
int iso_out_set_begin(void) ISO_RESULT;
ISO_API
int iso_out_set_end(int commit) ISO_RESULT;
/* Calls fn(final path, temporary path, arg) for each file the thread's open set holds so far, in the order
 * they were completed; stops at the first non-zero return, which it returns. */
ISO_API
int iso_out_set_each(int (*fn)(const char *path, const char *tmp, void *arg), void *arg) ISO_RESULT;

/* For the SIGINT/SIGTERM handler (async-signal-safe): removes every temporary still on disk and returns 1; or
 * returns 0, removing nothing, while a set is being renamed into place (the handler then lets the renames
 * finish and re-raises the signal afterwards). */
ISO_API
int iso_out_cleanup_all(void);
/* Removes the temporaries "<prefix>*.tmp.<host>.<pid>" that runs on this machine left when they were killed
 * (SIGKILL, a crash, a power cut: their process no longer exists). Returns how many. */
ISO_API
int iso_out_clean_stale(const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
