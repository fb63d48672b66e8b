/* Private pieces of quant shared by its modules: the transcript index and compatibility (compat.c), the
 * equivalence-class table (classes.c), coverage (coverage.c). */
#ifndef ISOFORMER_QUANT_INTERNAL_H
#define ISOFORMER_QUANT_INTERNAL_H

#include <htslib/sam.h>
#include <stddef.h>
#include <stdint.h>

#include "isoformer/outputs.h"
#include "isoformer/quant.h"

#define MAX_FRAG 1000 /* fragment-length histogram bins */
#define MAX_BLOCKS 64
#define MAX_COMPATIBLE 256 /* compatible transcripts kept per read (more overlapping isoforms: the first) */
#define LEN_BIN 5          /* implied fragment lengths are kept to 5 bp in class keys */

/* ---- compat.c: transcripts per contig sorted by start, and what a read's blocks are compatible with ---- */
typedef struct {
    int tid;             /* BAM target id */
    const char *name;    /* the BAM's (owned by the index) */
    int64_t len;
    size_t *tx;          /* annotation indices sorted by start */
    size_t n;
    int64_t max_len;     /* longest transcript span, bounds the backward scan */
} contig_index;

typedef struct {
    const iso_annotation *ann;
    contig_index *contigs; /* in BAM header order */
    int n_contigs;
    int64_t **offsets;   /* per transcript: exonic bases before each exon (genomic order) */
    size_t n_unplaced;   /* transcripts on contigs the BAM lacks */
} tx_index;

typedef struct {
    int64_t start[MAX_BLOCKS], end[MAX_BLOCKS]; /* aligned blocks split at N (introns) */
    int n;
} blocks;

int tx_index_build(tx_index *ix, const iso_annotation *ann, const sam_hdr_t *h, const char *path);
void tx_index_free(tx_index *ix);
/* Aligned blocks of a record, clipped to [0, contig_len); -1 when it has none there or too many. */
int read_blocks(const bam1_t *b, int64_t contig_len, blocks *bl);
/* Transcripts compatible with the blocks, into out (annotation indices, ascending, at most MAX_COMPATIBLE). */
int find_compatible(const tx_index *ix, const contig_index *ci, const blocks *bl, uint32_t *out);
/* Position of genomic base g inside transcript t's spliced sequence (genomic orientation), or -1 if intronic. */
int64_t tx_pos(const tx_index *ix, size_t t, int64_t g);

/* ---- classes.c: equivalence classes, keyed by their transcripts, each transcript's implied fragment-length
 * bin (0: unknown) and the strand of read 1 (2: not recorded) ---- */
typedef struct {
    size_t off;    /* of its transcripts and bins in the pools */
    int n;
    int strand;
    double count;  /* fragments, multi-mappers 1/NH */
    double frags;  /* fragments, each counted once */
} qclass;

typedef struct {
    qclass *c;
    size_t n, cap;
    uint32_t *tx;
    int32_t *bin;
    size_t pool_n, pool_cap;
    size_t *slot; /* open addressing: class index + 1, 0 empty */
    size_t n_slots;
} class_table;

int class_add(class_table *t, const uint32_t *tx, const int32_t *bin, int n, int strand, double count, double frags);
void class_table_free(class_table *t);
/* The classes of src (in order) with the transcripts whose strand agrees with the library kept, the strand
 * dropped from the key, and bins cleared where they cannot tell the transcripts apart, added to dst. */
int class_table_resolve(class_table *dst, const class_table *src, const iso_annotation *ann, iso_strandedness s);

/* ---- coverage.c: per-base depth from block boundaries, swept as the alignments stream by ---- */
typedef struct {
    struct cov_event {
        int64_t pos;
        double delta;
    } *ev;
    size_t n, cap;
    iso_span *spans; /* finished runs */
    size_t n_spans, cap_spans;
    double depth;     /* at the end of the last finished run */
    int64_t swept_to; /* positions before it are final */
} cov_track;

int cov_add_block(cov_track *t, int64_t start, int64_t end, double weight);
/* Finishes every position before pos (no later block starts before it). */
int cov_sweep(cov_track *t, int64_t pos);
void cov_track_free(cov_track *t);
/* Sum of two finished tracks as spans (for an unstranded library, whose reads were kept by strand). */
int cov_sum(const cov_track *a, const cov_track *b, struct iso_span_list *out);
int cov_take(cov_track *t, struct iso_span_list *out);

#endif
