/* Gene annotation: GTF (GENCODE, Ensembl, RefSeq flavours) or GFF3, plain or gzipped, read into transcript
 * models. All coordinates are 0-based half-open on the forward strand of the contig. */
#ifndef ISOFORMER_ANNOTATION_H
#define ISOFORMER_ANNOTATION_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t start, end; /* 0-based, half-open */
} iso_interval;

/* Flags describing what the annotation says (or lacks) about a transcript's coding sequence. */
enum {
    ISO_TX_CODING = 1u << 0,          /* has CDS features */
    ISO_TX_NO_START_CODON = 1u << 1,  /* CDS does not begin with a start codon (or start_codon missing, cds_start_NF) */
    ISO_TX_NO_STOP_CODON = 1u << 2,   /* CDS does not end in a stop codon (or cds_end_NF) */
    ISO_TX_CDS_PARTIAL_CODON = 1u << 3, /* CDS length (after the phase) is not a multiple of 3 */
    ISO_TX_INTERNAL_STOP = 1u << 4,   /* translation has a stop before the end (set by the extractor) */
    ISO_TX_SELENOCYSTEINE = 1u << 5,  /* annotation marks Sec codons */
    ISO_TX_RIBOSOMAL_SLIPPAGE = 1u << 6, /* a programmed frameshift (GFF3 exception=ribosomal slippage): CDS
                                          * segments may overlap, each extending the last, read as given */
};

typedef struct {
    char *transcript_id, *gene_id, *gene_name, *biotype;
    char *chrom;   /* contig name as in the FASTA after alias mapping */
    char strand;   /* '+' or '-' */
    iso_interval *exons; /* sorted by start, non-overlapping */
    int n_exons;
    iso_interval *cds;   /* sorted by start; includes the stop codon when the annotation has one */
    int n_cds;
    int cds_phase;       /* phase of the 5'-most CDS segment in transcript orientation (0,1,2) */
    int transl_table;    /* NCBI genetic code: the CDS lines' transl_table, else 2 on a contig named chrM, MT or M,
                            else 1 (the reader sets it; 0 means by contig: iso_transcript_code) */
    int64_t *sec_pos;    /* genomic 0-based first base of each selenocysteine codon */
    int n_sec;
    int64_t tss;         /* 0-based genomic position of the first transcribed base (exons[0].start on '+',
                            exons[n-1].end - 1 on '-') */
    unsigned flags;      /* ISO_TX_* */
    long line;           /* line of the transcript's first feature, for messages */
} iso_transcript;

typedef struct {
    iso_transcript *tx; /* in file order of first appearance */
    size_t n;
    char *path;
} iso_annotation;

/* Contig-name aliases in the UCSC chromAlias format: tab-separated, first column the name used in the FASTA,
 * the other columns alternative names; lines starting with '#' are comments. */
typedef struct iso_chrom_alias iso_chrom_alias;
ISO_API
int iso_chrom_alias_load(const char *path, iso_chrom_alias **out) ISO_RESULT;
/* Name to use for `name`, or `name` itself when it has no alias. */
ISO_API
const char *iso_chrom_alias_map(const iso_chrom_alias *a, const char *name);
ISO_API
void iso_chrom_alias_free(iso_chrom_alias *a);

/* Reads GTF or GFF3 (detected from the content). alias may be NULL. As gffread reads them: a transcript with CDS
 * but no exon features has its CDS as exons (NCBI prokaryotes: gene -> CDS); a GFF3 transcript under several genes
 * (Parent=g1,g2) is in the first; one without a biotype of its own takes its gene's (gene_biotype, biotype or
 * gene_type). On failure returns a negative status with a message "<path>:<line>: ..." and *out is NULL. */
ISO_API
int iso_annotation_read(const char *path, const iso_chrom_alias *alias, iso_annotation **out) ISO_RESULT;
ISO_API
void iso_annotation_free(iso_annotation *a);
/* An annotation of the n transcripts tx (deep copies; their exons sorted and disjoint, tss and the coding flag
 * derived as the reader derives them; gene_id, gene_name and biotype may be NULL), for transcripts read from
 * elsewhere than a GTF (a table) or made by a program. path names the source in messages (tx[i].line its
 * line). A transcript id listed twice is an error. */
ISO_API
int iso_annotation_from_transcripts(const char *path, const iso_transcript *tx, size_t n,
                                    iso_annotation **out) ISO_RESULT;
/* Index of a transcript by id (exact, or ignoring a ".N" version suffix on either side); -1 when absent. */
ISO_API
long iso_annotation_find(const iso_annotation *a, const char *transcript_id);

/* Checks that every contig the annotation uses exists in the FASTA (via its contig list). On mismatch
 * (ISO_ENOTFOUND) the error names the missing contigs and suggests the fix ("annotation uses 'chr20', FASTA has
 * '20': give contig aliases ..."). Also fails (file:line) when a transcript ends past its contig's end, the sign
 * of an annotation and a FASTA from different assemblies. */
struct iso_fasta;
ISO_API
int iso_annotation_check_contigs(const iso_annotation *a, const struct iso_fasta *fa) ISO_RESULT;

/* ---- genes: transcripts grouped by gene ----
 * ISO_GENES_BY_ID groups by gene_id alone; ISO_GENES_BY_LOCUS keeps apart the copies of a gene_id on several
 * contigs or strands (RefSeq names its X and Y pseudoautosomal genes alike), for work done per locus. A
 * transcript without a gene_id (NULL, or "" as the readers store a missing one) is a gene of its own, keyed by its
 * transcript_id: iso_transcript_gene. */
typedef enum { ISO_GENES_BY_ID, ISO_GENES_BY_LOCUS } iso_gene_key;
static inline const char *iso_transcript_gene(const iso_transcript *t)
{
    return t->gene_id && *t->gene_id ? t->gene_id : t->transcript_id;
}
typedef struct {
    size_t n_genes;
    size_t *idx;   /* the transcripts, gene after gene, as positions in the rows grouped */
    size_t *first; /* gene g is idx[first[g]] .. idx[first[g + 1] - 1]; n_genes + 1 entries */
} iso_genes;
/* Groups the transcripts rows[0..n) (indices into a->tx; rows NULL: every transcript, n ignored, so that
 * positions are indices into a->tx) by gene. Genes come in byte order of their key (BY_ID: gene_id; BY_LOCUS:
 * contig, gene_id, strand), a gene's transcripts in the order of rows. Free with iso_genes_free. */
ISO_API
int iso_annotation_genes(const iso_annotation *a, const size_t *rows, size_t n, iso_gene_key key,
                         iso_genes *out) ISO_RESULT;
ISO_API
void iso_genes_free(iso_genes *g);

/* ---- sharding: splitting one run over several machines ----
 * What predicting a gene costs, in GFLOP (only the ratios matter): the DNA encoder once per gene, and per
 * transcript a fixed part plus each encoder over its tokens. The model fills it (iso_model_costs). */
typedef struct {
    double fixed, per_token, per_token_sq; /* GFLOP of T tokens: fixed + per_token T + per_token_sq T^2 */
    int max_tokens;                        /* T is capped here (special tokens included) */
} iso_encoder_cost;
typedef struct {
    double window;     /* one DNA window */
    double transcript; /* per transcript besides its encoders (pooling, head) */
    iso_encoder_cost rna, protein; /* RNA tokens: 1 + one per 6 nt; protein (coding only): 2 + one per codon */
} iso_cost_model;
ISO_API
double iso_gene_cost(const iso_annotation *a, const size_t *tx, size_t n_tx, const iso_cost_model *c);
/* Transcripts of shard `index` (0-based) of `n_shards`. Genes (ISO_GENES_BY_ID) are never split; they are dealt
 * in order of decreasing cost (ties by gene_id), each to the shard with the least cost so far (ties: lowest
 * index), so shards cost about the same and the split depends only on the annotation and the cost model. Every
 * transcript belongs to exactly one shard. *rows gets the malloc'd indices into a->tx in annotation order (NULL
 * when *n_rows is 0); the caller frees it. */
ISO_API
int iso_annotation_shard(const iso_annotation *a, const iso_cost_model *c, int index, int n_shards, size_t **rows,
                         size_t *n_rows) ISO_RESULT;
/* Parses a shard "i/n" (1-based i, 1 <= i <= n, as the pipelines write it) into the 0-based index and n that
 * iso_annotation_shard takes. */
ISO_API
int iso_shard_parse(const char *spec, int *index, int *n_shards) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
