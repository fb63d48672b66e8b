/* Sequences: translation, reverse complement, DNA windows at contig edges, spliced RNA/CDS/protein on both
 * strands (the minus-strand case is the mirror image of the plus-strand one). */
#include <check.h>

#include "check_run.h"
#include "isoformer/sequences.h"
#include "test_files.h"

/* Plus-strand gene on c1 (1-based): exon 3-11 "ATGGCCTGG", intron, exon 28-40 "AAATGATAACCCC"; CDS ATG GCC TGG
 * AAA TGA TAA with a Sec TGA at 31-33. The minus-strand copy on c2 is revcomp(c1): position p maps to 41-p. */
static const char plus_genome[] = "NNATGGCCTGGGTAAGTCCCCCCCCAGAAATGATAACCCC";

static char *revcomp_copy(const char *s)
{
    char *r = strdup(s);
    iso_revcomp_inplace(r, (int64_t)strlen(r));
    return r;
}

/* The FASTA text written as name, indexed afresh. */
static iso_fasta *open_fasta(const char *name, const char *text)
{
    const char *path = test_file(name, text);
    char fai[1100];
    snprintf(fai, sizeof fai, "%s.fai", path);
    unlink(fai);
    iso_fasta *fa = iso_fasta_open(path);
    ck_assert_ptr_nonnull(fa);
    return fa;
}

static iso_fasta *open_genome(void)
{
    char *minus = revcomp_copy(plus_genome);
    char text[256];
    snprintf(text, sizeof text, ">c1\n%s\n>c2\n%s\n>short\nACGTACGTAC\n", plus_genome, minus);
    free(minus);
    return open_fasta("seq_genome.fa", text);
}

static iso_annotation *read_gtf(const char *name, const char *text)
{
    iso_annotation *a;
    ck_assert_msg(iso_annotation_read(test_file(name, text), NULL, &a) == ISO_OK, "%s", iso_last_error());
    return a;
}

/* The 64 codons in TCAG order (NCBI's tables list amino acids in it), as one string. */
static void all_codons(char all[64 * 3 + 1])
{
    static const char bases[] = "TCAG";
    for (int i = 0; i < 64; i++) {
        all[3 * i] = bases[i / 16];
        all[3 * i + 1] = bases[i / 4 % 4];
        all[3 * i + 2] = bases[i % 4];
    }
    all[192] = '\0';
}

START_TEST(translate_and_revcomp)
{
    char *p = iso_translate("ATGGCCTGANNNTTTtgg", 18, 1);
    ck_assert_str_eq(p, "MA*XFW");
    free(p);
    p = iso_translate("ATGGC", 5, 1);
    ck_assert_str_eq(p, "M");
    free(p);
    /* every codon of the standard code (NCBI table 1), in TCAG order */
    char all[64 * 3 + 1];
    all_codons(all);
    p = iso_translate(all, 192, 1);
    ck_assert_str_eq(p, "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG");
    free(p);
    char s[] = "AACGTN", t[] = "ACGTa";
    iso_revcomp_inplace(s, 6);
    ck_assert_str_eq(s, "NACGTT");
    iso_revcomp_inplace(t, 5);
    ck_assert_str_eq(t, "tACGT");
}
END_TEST

START_TEST(iupac_codes_and_case)
{
    /* complements by IUPAC's rules (R = A/G <-> Y = C/T, K <-> M, B <-> V, D <-> H; S, W, N themselves) */
    char s[] = "ACGTRYSWKMBDHVNacgtryswkmbdhvn";
    iso_revcomp_inplace(s, (int64_t)strlen(s));
    ck_assert_str_eq(s, "nbdhvkmwsryacgtNBDHVKMWSRYACGT");
    /* the model reads ambiguity codes as N, lowercase as uppercase */
    char m[] = "acgtNRYSWKMBDHVryswkmbdhvn";
    ck_assert_int_eq(iso_model_bases(m, (int64_t)strlen(m)), ISO_OK);
    ck_assert_str_eq(m, "ACGTNNNNNNNNNNNNNNNNNNNNNN");
    char bad[] = "ACG-T";
    ck_assert_int_eq(iso_model_bases(bad, 5), ISO_EFORMAT);
    ck_assert_msg(strstr(iso_last_error(), "base 4 is '-'"), "%s", iso_last_error());
    char nul[] = {'A', '\0', 'C'};
    ck_assert_int_eq(iso_model_bases(nul, 3), ISO_EFORMAT);
    ck_assert_msg(strstr(iso_last_error(), "base 2 is '?' (byte 0x00)"), "%s", iso_last_error());
}
END_TEST

static const char *const both_strands_gtf =
    "c1\tt\texon\t3\t11\t.\t+\t.\ttranscript_id \"P\";\n"
    "c1\tt\texon\t28\t40\t.\t+\t.\ttranscript_id \"P\";\n"
    "c1\tt\tCDS\t3\t11\t.\t+\t0\ttranscript_id \"P\";\n"
    "c1\tt\tCDS\t28\t33\t.\t+\t0\ttranscript_id \"P\";\n"
    "c1\tt\tstop_codon\t34\t36\t.\t+\t0\ttranscript_id \"P\";\n"
    "c1\tt\tstart_codon\t3\t5\t.\t+\t0\ttranscript_id \"P\";\n"
    "c1\tt\tSelenocysteine\t31\t33\t.\t+\t.\ttranscript_id \"P\";\n"
    "c2\tt\texon\t1\t13\t.\t-\t.\ttranscript_id \"M\";\n"
    "c2\tt\texon\t30\t38\t.\t-\t.\ttranscript_id \"M\";\n"
    "c2\tt\tCDS\t30\t38\t.\t-\t0\ttranscript_id \"M\";\n"
    "c2\tt\tCDS\t8\t13\t.\t-\t0\ttranscript_id \"M\";\n"
    "c2\tt\tstop_codon\t5\t7\t.\t-\t0\ttranscript_id \"M\";\n"
    "c2\tt\tstart_codon\t36\t38\t.\t-\t0\ttranscript_id \"M\";\n"
    "c2\tt\tSelenocysteine\t8\t10\t.\t-\t.\ttranscript_id \"M\";\n"
    "c1\tt\texon\t3\t11\t.\t+\t.\ttranscript_id \"NOSEC\";\n"
    "c1\tt\texon\t28\t40\t.\t+\t.\ttranscript_id \"NOSEC\";\n"
    "c1\tt\tCDS\t3\t11\t.\t+\t0\ttranscript_id \"NOSEC\";\n"
    "c1\tt\tCDS\t28\t36\t.\t+\t0\ttranscript_id \"NOSEC\";\n"
    "c1\tt\tstart_codon\t3\t5\t.\t+\t0\ttranscript_id \"NOSEC\";\n"
    "c1\tt\tstop_codon\t34\t36\t.\t+\t0\ttranscript_id \"NOSEC\";\n";

/* Transcript NOSEC (no Selenocysteine line): its TGA is an internal stop. Frees a and fa. */
static void check_nosec_protein(iso_fasta *fa, iso_annotation *a)
{
    char *prot;
    unsigned flags;
    ck_assert_int_eq(iso_extract_protein(fa, &a->tx[2], &prot, &flags), ISO_OK);
    ck_assert_str_eq(prot, "MAWK*");
    ck_assert_uint_eq(flags, ISO_TX_CODING | ISO_TX_INTERNAL_STOP);
    free(prot);
    iso_annotation_free(a);
    iso_fasta_close(fa);
}

START_TEST(rna_cds_protein_on_both_strands)
{
    iso_fasta *fa = open_genome();
    iso_annotation *a = read_gtf("seq_both.gtf", both_strands_gtf);
    for (int i = 0; i < 2; i++) {
        const iso_transcript *t = &a->tx[i];
        char *rna, *cds, *prot;
        unsigned flags;
        ck_assert_int_eq(iso_extract_rna(fa, t, &rna), ISO_OK);
        ck_assert_str_eq(rna, "ATGGCCTGGAAATGATAACCCC");
        ck_assert_int_eq(iso_extract_cds(fa, t, &cds), ISO_OK);
        ck_assert_str_eq(cds, "ATGGCCTGGAAATGATAA");
        ck_assert_int_eq(iso_extract_protein(fa, t, &prot, &flags), ISO_OK);
        ck_assert_str_eq(prot, "MAWKU");
        ck_assert_uint_eq(flags, ISO_TX_CODING | ISO_TX_SELENOCYSTEINE);
        free(rna);
        free(cds);
        free(prot);
    }
    check_nosec_protein(fa, a);
}
END_TEST

/* GENCODE's GFF3 marks the Sec codon as stop_codon_redefined_as_selenocysteine (its GTF: Selenocysteine). */
START_TEST(gencode_gff3_selenocysteine)
{
    iso_fasta *fa = open_genome();
    iso_annotation *a = read_gtf("seq_sec.gff3",
        "##gff-version 3\n"
        "c1\tHAVANA\ttranscript\t3\t40\t.\t+\t.\tID=P;transcript_type=protein_coding\n"
        "c1\tHAVANA\texon\t3\t11\t.\t+\t.\tID=exon:P:1;Parent=P\n"
        "c1\tHAVANA\texon\t28\t40\t.\t+\t.\tID=exon:P:2;Parent=P\n"
        "c1\tHAVANA\tCDS\t3\t11\t.\t+\t0\tID=CDS:P;Parent=P\n"
        "c1\tHAVANA\tCDS\t28\t33\t.\t+\t0\tID=CDS:P;Parent=P\n"
        "c1\tHAVANA\tstart_codon\t3\t5\t.\t+\t0\tID=start_codon:P;Parent=P\n"
        "c1\tHAVANA\tstop_codon\t34\t36\t.\t+\t0\tID=stop_codon:P;Parent=P\n"
        "c1\tHAVANA\tstop_codon_redefined_as_selenocysteine\t31\t33\t.\t+\t0\tID=sec:P;Parent=P\n");
    char *prot;
    unsigned flags;
    ck_assert_int_eq(iso_extract_protein(fa, &a->tx[0], &prot, &flags), ISO_OK);
    ck_assert_str_eq(prot, "MAWKU");
    ck_assert_uint_eq(flags, ISO_TX_CODING | ISO_TX_SELENOCYSTEINE);
    free(prot);
    iso_annotation_free(a);
    iso_fasta_close(fa);
}
END_TEST

/* A soft-masked genome (repeats in lowercase, as UCSC's and Ensembl's sm FASTAs) reads as the uppercase one: the
 * start codon was missed in lowercase (no_start_codon, and variants called start_lost a missense). */
START_TEST(soft_masked_genome_reads_as_uppercase)
{
    char text[128];
    snprintf(text, sizeof text, ">c1\n%s\n", plus_genome);
    for (char *p = text + 4; *p; p++)
        *p = (char)(*p == 'N' ? 'n' : *p + ('a' - 'A') * (*p >= 'A' && *p <= 'Z'));
    check_nosec_protein(open_fasta("seq_soft.fa", text), read_gtf("seq_soft.gtf", both_strands_gtf));
}
END_TEST

START_TEST(phase_partial_codons_and_non_atg_starts)
{
    iso_fasta *fa = open_genome();
    /* c1 bases 2-8 are "NATGGCC": phase 1 skips the N */
    iso_annotation *a = read_gtf("seq_phase.gtf",
        "c1\tt\texon\t1\t12\t.\t+\t.\ttranscript_id \"PH\";\n"
        "c1\tt\tCDS\t2\t8\t.\t+\t1\ttranscript_id \"PH\";\n"
        "c1\tt\texon\t1\t12\t.\t+\t.\ttranscript_id \"PART\";\n"
        "c1\tt\tCDS\t3\t7\t.\t+\t0\ttranscript_id \"PART\";\n"
        "c1\tt\texon\t1\t12\t.\t+\t.\ttranscript_id \"NONATG\";\n"
        "c1\tt\tCDS\t6\t11\t.\t+\t0\ttranscript_id \"NONATG\";\n"
        "c1\tt\texon\t1\t12\t.\t+\t.\ttranscript_id \"NC\";\n"
        "c1\tt\texon\t1\t12\t.\t+\t.\ttranscript_id \"TINY\";\n"
        "c1\tt\tCDS\t3\t3\t.\t+\t2\ttranscript_id \"TINY\";\n");
    struct {
        const char *protein;
        unsigned flags;
    } want[] = {
        {"MA", ISO_TX_CODING | ISO_TX_NO_START_CODON | ISO_TX_NO_STOP_CODON},
        {"M", ISO_TX_CODING | ISO_TX_NO_STOP_CODON | ISO_TX_CDS_PARTIAL_CODON},
        {"AW", ISO_TX_CODING | ISO_TX_NO_START_CODON | ISO_TX_NO_STOP_CODON}, /* bases 6-11: GCC TGG */
        {"", 0},
        {"", ISO_TX_CODING | ISO_TX_NO_START_CODON | ISO_TX_NO_STOP_CODON | ISO_TX_CDS_PARTIAL_CODON},
    };
    for (int i = 0; i < 5; i++) {
        char *prot;
        unsigned flags;
        ck_assert_int_eq(iso_extract_protein(fa, &a->tx[i], &prot, &flags), ISO_OK);
        ck_assert_str_eq(prot, want[i].protein);
        ck_assert_uint_eq(flags, want[i].flags);
        free(prot);
    }
    iso_annotation_free(a);
    iso_fasta_close(fa);
}
END_TEST

/* Genetic codes against NCBI's published strings (codons in TCAG order): table 2, vertebrate mitochondrial (TGA W,
 * AGA/AGG stop, ATA M), and 11 (the standard amino acids), with their start codons; then the NOSEC transcript on a
 * contig named chrM (table 2: its TGA is W, no internal stop), on MT with a transl_table=1 CDS (the standard code
 * again), and on c1 with transl_table=2. Everything translated with the standard code before. */
START_TEST(genetic_codes)
{
    char all[64 * 3 + 1];
    all_codons(all);
    static const struct {
        int table;
        const char *aa, *starts;
    } ncbi[] = {
        {2, "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG",
         "----------**--------------------MMMM----------**---M------------"},
        {11, "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
         "---M------**--*----M------------MMMM---------------M------------"},
    };
    for (int k = 0; k < 2; k++) {
        char *p = iso_translate(all, 192, ncbi[k].table);
        ck_assert_str_eq(p, ncbi[k].aa);
        free(p);
        for (int i = 0; i < 64; i++)
            ck_assert_msg(iso_codon_is_start(ncbi[k].table, all + 3 * i) == (ncbi[k].starts[i] == 'M'),
                          "table %d codon %.3s", ncbi[k].table, all + 3 * i);
    }
    ck_assert(iso_codon_is_start(1, "atg") && !iso_codon_is_start(1, "CTG") && !iso_codon_is_start(1, "ATT"));
    ck_assert_int_eq(iso_contig_genetic_code("chrM"), 2);
    ck_assert_int_eq(iso_contig_genetic_code("MT"), 2);
    ck_assert_int_eq(iso_contig_genetic_code("chr1"), 1);
    char text[256];
    snprintf(text, sizeof text, ">chrM\n%s\n>MT\n%s\n>c1\n%s\n", plus_genome, plus_genome, plus_genome);
    iso_fasta *fa = open_fasta("seq_mito.fa", text);
    iso_annotation *a = read_gtf("seq_mito.gtf",
        "chrM\tt\texon\t3\t11\t.\t+\t.\ttranscript_id \"ND\";\n"
        "chrM\tt\texon\t28\t40\t.\t+\t.\ttranscript_id \"ND\";\n"
        "chrM\tt\tCDS\t3\t11\t.\t+\t0\ttranscript_id \"ND\";\n"
        "chrM\tt\tCDS\t28\t36\t.\t+\t0\ttranscript_id \"ND\";\n"
        "MT\tt\texon\t3\t11\t.\t+\t.\ttranscript_id \"STD\";\n"
        "MT\tt\texon\t28\t40\t.\t+\t.\ttranscript_id \"STD\";\n"
        "MT\tt\tCDS\t3\t11\t.\t+\t0\ttranscript_id \"STD\"; transl_table \"1\";\n"
        "MT\tt\tCDS\t28\t36\t.\t+\t0\ttranscript_id \"STD\"; transl_table \"1\";\n"
        "c1\tt\texon\t3\t11\t.\t+\t.\ttranscript_id \"T2\";\n"
        "c1\tt\texon\t28\t40\t.\t+\t.\ttranscript_id \"T2\";\n"
        "c1\tt\tCDS\t3\t11\t.\t+\t0\ttranscript_id \"T2\"; transl_table \"2\";\n"
        "c1\tt\tCDS\t28\t36\t.\t+\t0\ttranscript_id \"T2\"; transl_table \"2\";\n");
    static const struct {
        const char *protein;
        unsigned flags;
    } want[] = {{"MAWKW", ISO_TX_CODING}, {"MAWK*", ISO_TX_CODING | ISO_TX_INTERNAL_STOP}, {"MAWKW", ISO_TX_CODING}};
    for (int i = 0; i < 3; i++) {
        char *prot;
        unsigned flags;
        ck_assert_int_eq(iso_extract_protein(fa, &a->tx[i], &prot, &flags), ISO_OK);
        ck_assert_msg(!strcmp(prot, want[i].protein), "%s: %s", a->tx[i].transcript_id, prot);
        ck_assert_uint_eq(flags, want[i].flags);
        free(prot);
    }
    iso_annotation_free(a);
    iso_fasta_close(fa);
}
END_TEST

/* A CDS whose last whole codon is a stop and that runs on into a partial codon (ATG GCC TGG TAA C; on c2, its
 * mirror): the stop ends the protein, as gffread -y reads it (MAW), and the trailing bases are the partial codon.
 * It was MAW* with no_stop_codon and internal_stop. */
START_TEST(stop_then_partial_codon)
{
    iso_fasta *fa = open_genome();
    iso_annotation *a = read_gtf("seq_stop_partial.gtf",
        "c1\tt\texon\t3\t11\t.\t+\t.\ttranscript_id \"SP\";\n"
        "c1\tt\texon\t34\t40\t.\t+\t.\ttranscript_id \"SP\";\n"
        "c1\tt\tCDS\t3\t11\t.\t+\t0\ttranscript_id \"SP\";\n"
        "c1\tt\tCDS\t34\t37\t.\t+\t0\ttranscript_id \"SP\";\n"
        "c2\tt\texon\t1\t7\t.\t-\t.\ttranscript_id \"SM\";\n"
        "c2\tt\texon\t30\t38\t.\t-\t.\ttranscript_id \"SM\";\n"
        "c2\tt\tCDS\t4\t7\t.\t-\t0\ttranscript_id \"SM\";\n"
        "c2\tt\tCDS\t30\t38\t.\t-\t0\ttranscript_id \"SM\";\n");
    for (int i = 0; i < 2; i++) {
        char *prot;
        unsigned flags;
        ck_assert_int_eq(iso_extract_protein(fa, &a->tx[i], &prot, &flags), ISO_OK);
        ck_assert_str_eq(prot, "MAW");
        ck_assert_uint_eq(flags, ISO_TX_CODING | ISO_TX_CDS_PARTIAL_CODON);
        free(prot);
    }
    iso_annotation_free(a);
    iso_fasta_close(fa);
}
END_TEST

START_TEST(dna_windows_at_contig_edges)
{
    iso_fasta *fa = open_genome();
    iso_annotation *a = read_gtf("seq_win.gtf", "short\tt\texon\t3\t5\t.\t+\t.\ttranscript_id \"F\";\n"
                                                "short\tt\texon\t6\t9\t.\t-\t.\ttranscript_id \"R\";\n");
    iso_window_opts o = {.window = 10, .revcomp_minus = 0};
    char *s;
    /* + strand, TSS at 0-based 2: window [-3, 7), TSS is base 5 */
    iso_interval w = iso_dna_window(&a->tx[0], &o);
    ck_assert_int_eq(w.start, -3);
    ck_assert_int_eq(w.end, 7);
    ck_assert_int_eq(iso_extract_dna(fa, &a->tx[0], &o, &s), ISO_OK);
    ck_assert_str_eq(s, "NNNACGTACG");
    free(s);
    /* - strand, TSS at 0-based 8, genomic orientation: [3, 13) */
    ck_assert_int_eq(iso_extract_dna(fa, &a->tx[1], &o, &s), ISO_OK);
    ck_assert_str_eq(s, "TACGTACNNN");
    ck_assert_int_eq(s[5], "ACGTACGTAC"[8]);
    free(s);
    /* reverse-complemented: TSS (its complement) is still base 5: genomic [4, 14) reversed */
    o.revcomp_minus = 1;
    w = iso_dna_window(&a->tx[1], &o);
    ck_assert_int_eq(w.start, 4);
    ck_assert_int_eq(w.end, 14);
    ck_assert_int_eq(iso_extract_dna(fa, &a->tx[1], &o, &s), ISO_OK);
    ck_assert_str_eq(s, "NNNNGTACGT");
    ck_assert_int_eq(s[5], 'T'); /* complement of genomic base 8, 'A' */
    free(s);
    /* an even window larger than the contig on both sides */
    o.window = 30;
    ck_assert_int_eq(iso_extract_dna(fa, &a->tx[0], &o, &s), ISO_OK);
    ck_assert_str_eq(s, "NNNNNNNNNNNNNACGTACGTACNNNNNNN");
    free(s);
    iso_annotation_free(a);
    iso_fasta_close(fa);
}
END_TEST

/* iso_extract_many on an edited view reads the edited sequence on every thread: the extra threads used to reopen
 * the view's file, the unedited base, so the rows they took came back unedited. */
typedef struct {
    size_t n, unedited;
} edited_rows;

static int count_unedited(void *arg, size_t i, const iso_sequences *s)
{
    (void)i;
    edited_rows *r = arg;
    r->n++;
    r->unedited += strcmp(s->rna, "ATGTCCTGGAAATGATAACCCC") != 0; /* GCC -> TCC at 0-based 5 */
    return ISO_OK;
}

START_TEST(many_threads_read_an_edited_view)
{
    iso_fasta *fa = open_genome();
    iso_annotation *a = read_gtf("seq_many.gtf", both_strands_gtf);
    const iso_fasta_edit edit = {.start = 5, .end = 6, .seq = "T", .len = 1};
    iso_fasta *view = iso_fasta_edited(fa, "c1", &edit, 1);
    ck_assert_ptr_nonnull(view);
    enum { N = 4096 }; /* several batches, so that every thread takes rows */
    size_t *rows = calloc(N, sizeof *rows); /* all rows: the plus-strand transcript on c1 */
    ck_assert_ptr_nonnull(rows);
    iso_window_opts o = {.window = 16, .revcomp_minus = 1};
    for (int threads = 1; threads <= 4; threads *= 2) {
        edited_rows r = {0};
        ck_assert_msg(iso_extract_many(view, a, rows, N, &o, threads, count_unedited, &r) == ISO_OK, "%s",
                      iso_last_error());
        ck_assert_uint_eq(r.n, N);
        ck_assert_msg(r.unedited == 0, "%d threads: %zu of %d rows unedited", threads, r.unedited, N);
    }
    /* a plain FASTA still opens a handle per thread and reads the reference */
    size_t plain = 0;
    for (int i = 0; i < 2; i++) {
        edited_rows r = {0};
        ck_assert_int_eq(iso_extract_many(fa, a, rows, N, &o, 2, count_unedited, &r), ISO_OK);
        plain += r.unedited;
    }
    ck_assert_uint_eq(plain, 2 * N);
    free(rows);
    iso_fasta_close(view);
    iso_annotation_free(a);
    iso_fasta_close(fa);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sequences");
    TCase *tc = tcase_create("sequences");
    tcase_add_test(tc, translate_and_revcomp);
    tcase_add_test(tc, iupac_codes_and_case);
    tcase_add_test(tc, rna_cds_protein_on_both_strands);
    tcase_add_test(tc, gencode_gff3_selenocysteine);
    tcase_add_test(tc, soft_masked_genome_reads_as_uppercase);
    tcase_add_test(tc, phase_partial_codons_and_non_atg_starts);
    tcase_add_test(tc, genetic_codes);
    tcase_add_test(tc, stop_then_partial_codon);
    tcase_add_test(tc, dna_windows_at_contig_edges);
    tcase_add_test(tc, many_threads_read_an_edited_view);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
