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
#define SCAN_BLOCK 64

/* ---- compat.c: transcripts per contig sorted by start, and what a read's blocks are compatible with ---- */
typedef struct {
    int tid;             /* BAM target id */
    const char *name;    /* the BAM's (owned by the index) */
    int64_t len;
    size_t *tx;          /* annotation indices sorted by start */
    size_t n;
    int64_t max_len;     /* longest transcript span, bounds the backward scan */
    /* Spans of tx in the same order, and the furthest end of each SCAN_BLOCK of them: find_compatible's scan
     * reaches max_len back (Mb where one gene is long), and reading the spans through the annotation missed
     * the cache on every transcript it passed (two fifths of quant's time at 240,000 transcripts). */
    int64_t *start, *end, *block_end;
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
    int clipped[2]; /* soft clips before the first block and after the last */
    /* bases inserted within JUNCTION_SHIFT of a block's start and end: where the block meets a splice, an
     * aligner's way of moving the splice site (HISAT2 prefers a junction it saw plus an insertion) */
    int ins_start[MAX_BLOCKS], ins_end[MAX_BLOCKS];
} blocks;

int tx_index_build(tx_index *ix, const iso_annotation *ann, const sam_hdr_t *h, const char *path);
void tx_index_free(tx_index *ix);
/* Aligned blocks of a record, clipped to [0, contig_len); -1 when it has none there or too many. */
int read_blocks(const bam1_t *b, int64_t contig_len, blocks *bl);
/* Drops a first or last block shorter than MIN_ANCHOR after a splice: a splice to a few bases is the aligner's
 * guess (they match in many places; HISAT2 splices 1 base to a junction it knows), so the read counts as ending
 * before it. */
void drop_short_anchors(blocks *bl);
/* Transcripts compatible with the blocks, into out (annotation indices, ascending, at most MAX_COMPATIBLE). */
int find_compatible(const tx_index *ix, const contig_index *ci, const blocks *bl, uint32_t *out);
/* Length on transcript t of a fragment spanning [start, end) of the genome (its outer ends up to OVERHANG inside
 * an intron of t, as find_compatible allows), or -1 when an end is not on t. */
int64_t tx_span(const tx_index *ix, size_t t, int64_t start, int64_t end);

/* ---- classes.c: equivalence classes, keyed by their transcripts, each transcript's implied fragment-length
 * bin (0: unknown) and the strand of read 1 (2: not recorded) ---- */
typedef struct {
    size_t off;    /* of its transcripts and bins in the pool */
    int n;
    int strand;
    double count;  /* fragments */
} qclass;

/* Transcripts with their fragment-length bins, the lists of several classes or alignments end to end. */
typedef struct {
    uint32_t *tx;
    int32_t *bin;
    size_t n, cap;
} tx_pool;

typedef struct {
    qclass *c;
    size_t n, cap;
    tx_pool pool;
    size_t *slot; /* open addressing: class index + 1, 0 empty */
    size_t n_slots;
} class_table;

int class_add(class_table *t, const uint32_t *tx, const int32_t *bin, int n, int strand, double count);
void class_table_free(class_table *t);
/* The classes of src (in order) with the transcripts whose strand agrees with the library kept, the strand
 * dropped from the key, and bins cleared where they cannot tell the transcripts apart, added to dst. */
int class_table_resolve(class_table *dst, const class_table *src, const iso_annotation *ann, iso_strandedness s);

/* The alignments of multi-mapping fragments (NH > 1), kept by read name until the pass is over, when each
 * fragment's alignments become one class: the union of their compatible transcripts, as salmon and RSEM
 * count a fragment, rather than 1/NH of a fragment in a class per alignment. */
typedef struct {
    size_t name, off; /* of its read name, and of its transcripts and bins in the pool */
    int n, strand;    /* strand: of read 1, as in class keys */
    int paired;       /* both mates in this alignment */
} multi_hit;

typedef struct {
    multi_hit *hit;
    size_t n, cap;
    char *names;
    size_t names_n, names_cap;
    tx_pool pool;
} multi_list;

int multi_add(multi_list *l, const char *name, size_t name_len, const uint32_t *tx, const int32_t *bin, int n,
              int strand, int paired);
void multi_list_free(multi_list *l);
/* The fragments of the lists (one per contig, in file order) as classes added to dst, strand resolved as in
 * class_table_resolve; a fragment with a paired alignment drops its single-mate ones (as salmon ignores
 * orphans where it finds a pair), and where two alignments fit one transcript, the bin of higher len_weight
 * is kept. The order of the classes follows the read names, whatever the thread count. */
int multi_resolve(class_table *dst, const multi_list *const *lists, int n_lists, const iso_annotation *ann,
                  iso_strandedness s, double (*len_weight)(int32_t bin, const void *ctx), const void *ctx);

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
    size_t kept;      /* events the last sweep left (blocks that go on past it) */
} cov_track;

int cov_add_block(cov_track *t, int64_t start, int64_t end, double weight);
/* Finishes every position before pos (no later block starts before it). */
int cov_sweep(cov_track *t, int64_t pos);
/* Whether to sweep now: once the buffer has at least doubled since the last sweep, so that where more blocks
 * overlap one position than a sweep can retire (depth beyond some 30,000), the buffer is not sorted again for
 * every alignment. */
int cov_full(const cov_track *t);
void cov_track_free(cov_track *t);
/* Sum of two finished tracks as spans (for an unstranded library, whose reads were kept by strand). */
int cov_sum(const cov_track *a, const cov_track *b, struct iso_span_list *out);
int cov_take(cov_track *t, struct iso_span_list *out);

#endif
