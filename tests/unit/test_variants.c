/* Variants: allele trimming, boundary maps, the edited FASTA view against plain string edits, the edited
 * transcript (CDS read again to the next stop) and consequences on a small two-exon gene, on the plus strand
 * and its mirror image on the minus strand (a variant and its mirror must get the same consequence); VCFs that
 * bcftools reads (no ##contig lines, undeclared tags) and a bgzipped VCF cut short. */
#include <check.h>
#include <htslib/bgzf.h>
#include <unistd.h>

#include "check_run.h"
#include "isoformer/variants.h"
#include "test_files.h"

/* c1 (0-based): upstream [0,10), exon 1 [10,24) = 5'UTR GGGAA + CDS ATG GCC AAA, intron [24,44) GTAAGT...AG,
 * exon 2 [44,67) = CDS CTG TGG CGC TAA + 3'UTR GCA TTG TGA CC, downstream [67,77). Protein MAKLWR; reading on
 * past the stop gives ...S A L stop (TGA at 62). c2 is the reverse complement: base p of c1 is base 76 - p. */
static const char c1[] = "CCCCCCCCCC" "GGGAAATGGCCAAA" "GTAAGTCCCCCCCCCCCCAG" "CTGTGGCGCTAAGCATTGTGACC"
                         "CCCCCCCCCC";
#define LEN 77

static const char gtf[] =
    "c1\tt\texon\t11\t24\t.\t+\t.\tgene_id \"G\"; transcript_id \"P\";\n"
    "c1\tt\texon\t45\t67\t.\t+\t.\tgene_id \"G\"; transcript_id \"P\";\n"
    "c1\tt\tCDS\t16\t24\t.\t+\t0\tgene_id \"G\"; transcript_id \"P\";\n"
    "c1\tt\tCDS\t45\t53\t.\t+\t0\tgene_id \"G\"; transcript_id \"P\";\n"
    "c1\tt\tstart_codon\t16\t18\t.\t+\t0\tgene_id \"G\"; transcript_id \"P\";\n"
    "c1\tt\tstop_codon\t54\t56\t.\t+\t0\tgene_id \"G\"; transcript_id \"P\";\n"
    "c2\tt\texon\t54\t67\t.\t-\t.\tgene_id \"H\"; transcript_id \"M\";\n"
    "c2\tt\texon\t11\t33\t.\t-\t.\tgene_id \"H\"; transcript_id \"M\";\n"
    "c2\tt\tCDS\t54\t62\t.\t-\t0\tgene_id \"H\"; transcript_id \"M\";\n"
    "c2\tt\tCDS\t25\t33\t.\t-\t0\tgene_id \"H\"; transcript_id \"M\";\n"
    "c2\tt\tstart_codon\t60\t62\t.\t-\t0\tgene_id \"H\"; transcript_id \"M\";\n"
    "c2\tt\tstop_codon\t22\t24\t.\t-\t0\tgene_id \"H\"; transcript_id \"M\";\n"
    "c1\tt\texon\t11\t24\t.\t+\t.\tgene_id \"N\"; transcript_id \"NC\";\n"
    "c1\tt\texon\t45\t67\t.\t+\t.\tgene_id \"N\"; transcript_id \"NC\";\n";

static iso_fasta *fa;
static iso_annotation *ann;

static char comp(char b) { return b == 'A' ? 'T' : b == 'C' ? 'G' : b == 'G' ? 'C' : b == 'T' ? 'A' : 'N'; }

static void setup(void)
{
    char minus[LEN + 1], text[512];
    for (int i = 0; i < LEN; i++)
        minus[i] = comp(c1[LEN - 1 - i]);
    minus[LEN] = '\0';
    snprintf(text, sizeof text, ">c1\n%s\n>c2\n%s\n", c1, minus);
    const char *path = test_file("variants_genome.fa", text);
    char fai[1100];
    snprintf(fai, sizeof fai, "%s.fai", path);
    unlink(fai);
    fa = iso_fasta_open(path);
    ck_assert_ptr_nonnull(fa);
    ck_assert_int_eq(iso_annotation_read(test_file("variants.gtf", gtf), NULL, &ann), ISO_OK);
}

static void teardown(void)
{
    iso_fasta_close(fa);
    iso_annotation_free(ann);
}

START_TEST(trim_alleles)
{
    iso_fasta_edit e = iso_allele_trim(100, "A", "G");
    ck_assert(e.start == 100 && e.end == 101 && e.len == 1 && e.seq[0] == 'G');
    e = iso_allele_trim(100, "ACT", "A"); /* deletion of CT */
    ck_assert(e.start == 101 && e.end == 103 && e.len == 0);
    e = iso_allele_trim(100, "A", "ATT"); /* insertion of TT before 101 */
    ck_assert(e.start == 101 && e.end == 101 && e.len == 2 && !strncmp(e.seq, "TT", 2));
    e = iso_allele_trim(100, "ACG", "ATG"); /* an SNV written with context */
    ck_assert(e.start == 101 && e.end == 102 && e.len == 1 && e.seq[0] == 'T');
    e = iso_allele_trim(100, "CAA", "CA"); /* prefix first: the indel stays after the record's anchor */
    ck_assert(e.start == 102 && e.end == 103 && e.len == 0);
    e = iso_allele_trim(100, "C", "CC");
    ck_assert(e.start == 101 && e.end == 101 && e.len == 1);
    e = iso_allele_trim(100, "AC", "GT"); /* MNV */
    ck_assert(e.start == 100 && e.end == 102 && e.len == 2);
}
END_TEST

START_TEST(boundary_maps)
{
    iso_fasta_edit ins = {10, 10, "TT", 2}, del = {10, 13, "", 0}, sub = {10, 12, "G", 1};
    ck_assert_int_eq(iso_edits_map(&ins, 1, 10), 10); /* inserted bases go with the base after them */
    ck_assert_int_eq(iso_edits_map(&ins, 1, 9), 9);
    ck_assert_int_eq(iso_edits_map(&ins, 1, 11), 13);
    ck_assert_int_eq(iso_edits_map(&del, 1, 11), 10); /* inside a deletion: its start */
    ck_assert_int_eq(iso_edits_map(&del, 1, 13), 10);
    ck_assert_int_eq(iso_edits_map(&del, 1, 20), 17);
    ck_assert_int_eq(iso_edits_map(&sub, 1, 11), 11);  /* offset 1 of a 1-base replacement: its end */
    ck_assert_int_eq(iso_edits_map(&sub, 1, 12), 11);
    iso_fasta_edit two[] = {{5, 6, "", 0}, {10, 10, "AAA", 3}};
    ck_assert_int_eq(iso_edits_map(two, 2, 10), 9);
    ck_assert_int_eq(iso_edits_map(two, 2, 11), 13);
    ck_assert(iso_edit_touches(&ins, 9, 11) && iso_edit_touches(&ins, 10, 20) && !iso_edit_touches(&ins, 0, 10));
    ck_assert(iso_edit_touches(&del, 12, 30) && !iso_edit_touches(&del, 13, 30));
}
END_TEST

/* The edited view against the same edits applied to the string, over every interval, past both contig ends. */
START_TEST(edited_view)
{
    iso_fasta_edit e[] = {{0, 0, "TT", 2}, {20, 23, "", 0}, {40, 41, "GGGG", 4}, {76, 77, "A", 1}, {77, 77, "CC", 2}};
    char expect[LEN + 16];
    int at = 0, from = 0;
    for (int i = 0; i < 5; i++) {
        memcpy(expect + at, c1 + from, (size_t)(e[i].start - from));
        at += (int)(e[i].start - from);
        memcpy(expect + at, e[i].seq, (size_t)e[i].len);
        at += (int)e[i].len;
        from = (int)e[i].end;
    }
    expect[at] = '\0';
    iso_fasta *v = iso_fasta_edited(fa, "c1", e, 5);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(iso_fasta_contig_len(v, "c1"), at);
    ck_assert_int_eq(iso_fasta_contig_len(v, "c2"), LEN);
    for (int a = -3; a <= at + 3; a++)
        for (int b = a; b <= at + 3; b++) {
            char *s;
            ck_assert_int_eq(iso_fasta_fetch(v, "c1", a, b, &s), ISO_OK);
            for (int i = a; i < b; i++)
                ck_assert_msg(s[i - a] == (i < 0 || i >= at ? 'N' : expect[i]), "[%d,%d) at %d", a, b, i);
            free(s);
        }
    iso_fasta_close(v);
    iso_fasta_edit overlap[] = {{5, 8, "", 0}, {7, 9, "", 0}};
    ck_assert_ptr_null(iso_fasta_edited(fa, "c1", overlap, 2));
    /* outside the contig, of a contig not there, or a negative count: refused (they made views of other lengths,
     * or ignored the edits) */
    iso_fasta_edit before_start = {-10, 5, "GG", 2}, past_end = {LEN - 2, LEN + 100, "TTTT", 4};
    ck_assert_ptr_null(iso_fasta_edited(fa, "c1", &before_start, 1));
    ck_assert_ptr_null(iso_fasta_edited(fa, "c1", &past_end, 1));
    ck_assert_ptr_null(iso_fasta_edited(fa, "nope", e, 1));
    ck_assert_int_eq(iso_last_status(), ISO_ENOTFOUND);
    ck_assert_ptr_null(iso_fasta_edited(fa, "c1", e, -1));
    iso_fasta_edit at_end = {LEN, LEN, "AC", 2}; /* an insertion after the last base is inside */
    v = iso_fasta_edited(fa, "c1", &at_end, 1);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(iso_fasta_contig_len(v, "c1"), LEN + 2);
    iso_fasta_close(v);
}
END_TEST

/* ---- one allele on the plus transcript and its mirror on the minus one ---- */

typedef struct {
    iso_consequence csq;
    char *rna, *protein;
    int64_t tss;
    unsigned flags;
} effect;

static void effect_free(effect *x)
{
    free(x->rna);
    free(x->protein);
}

static effect apply_in(iso_fasta *fa, iso_annotation *ann, const char *id, const char *contig, iso_fasta_edit edit)
{
    const iso_transcript *tx = &ann->tx[iso_annotation_find(ann, id)];
    char *ref_protein;
    unsigned ref_flags;
    ck_assert_int_eq(iso_extract_protein(fa, tx, &ref_protein, &ref_flags), ISO_OK);
    iso_fasta *v = iso_fasta_edited(fa, contig, &edit, 1);
    iso_alt_transcript alt;
    ck_assert_int_eq(iso_variant_transcript(v, tx, ref_flags, &edit, 1, &alt), ISO_OK);
    effect x = {.tss = alt.tx.tss, .flags = alt.flags};
    unsigned flags;
    if (alt.tx.n_exons) {
        ck_assert_int_eq(iso_extract_rna(v, &alt.tx, &x.rna), ISO_OK);
        ck_assert_int_eq(iso_extract_protein(v, &alt.tx, &x.protein, &flags), ISO_OK);
    } else {
        x.rna = strdup("");
        x.protein = strdup("");
    }
    iso_consequence_classify(tx, ref_flags, &edit, 1, &alt, ref_protein, x.protein, &x.csq);
    iso_alt_transcript_free(&alt);
    iso_fasta_close(v);
    free(ref_protein);
    return x;
}

static effect apply(const char *id, const char *contig, iso_fasta_edit edit) { return apply_in(fa, ann, id, contig, edit); }

/* Applies ref>alt at 0-based pos of c1 to P and the mirrored allele to M; checks both give terms, protein and
 * amino-acid change, and the same RNA (both read 5'->3'). */
static void check_both(int64_t pos, const char *ref, const char *alt, const char *terms, const char *protein,
                       const char *aa)
{
    char mref[16], malt[16];
    int rl = (int)strlen(ref), al = (int)strlen(alt);
    for (int i = 0; i < rl; i++)
        mref[i] = comp(ref[rl - 1 - i]);
    for (int i = 0; i < al; i++)
        malt[i] = comp(alt[al - 1 - i]);
    mref[rl] = malt[al] = '\0';
    iso_fasta_edit pe = iso_allele_trim(pos, ref, alt), me = {LEN - pe.end, LEN - pe.start, malt, al};
    me = iso_allele_trim(LEN - pos - rl, mref, malt);
    effect p = apply("P", "c1", pe), m = apply("M", "c2", me);
    char buf[256];
    iso_so_format(p.csq.terms, buf, sizeof buf);
    ck_assert_msg(!strcmp(buf, terms), "%lld %s>%s on P: %s, expected %s", (long long)pos, ref, alt, buf, terms);
    iso_so_format(m.csq.terms, buf, sizeof buf);
    ck_assert_msg(!strcmp(buf, terms), "%lld %s>%s on M: %s, expected %s", (long long)pos, ref, alt, buf, terms);
    ck_assert_msg(!strcmp(p.protein, protein) && !strcmp(m.protein, protein), "%lld %s>%s: proteins %s %s, expected %s",
                  (long long)pos, ref, alt, p.protein, m.protein, protein);
    ck_assert_str_eq(p.csq.amino_acids, aa);
    ck_assert_str_eq(m.csq.amino_acids, aa);
    ck_assert_int_eq(p.csq.distance, m.csq.distance);
    ck_assert_str_eq(p.rna, m.rna);
    effect_free(&p);
    effect_free(&m);
}

START_TEST(coding_consequences)
{
    check_both(19, "C", "A", "missense_variant", "MDKLWR", "A/D");
    check_both(20, "C", "T", "synonymous_variant", "MAKLWR", "");
    check_both(21, "A", "T", "stop_gained&splice_region_variant", "MA", "K/*"); /* 3 bases from the exon end */
    check_both(16, "T", "C", "start_lost", "", "M/X");
    check_both(54, "A", "C", "stop_lost", "MAKLWRSAL", "*/S");
    check_both(53, "T", "TGGG", "stop_lost&inframe_insertion", "MAKLWRWEAL", "*/W"); /* in the stop codon: read on */
    check_both(55, "A", "G", "stop_retained_variant", "MAKLWR", "");
    check_both(17, "GGCC", "G", "inframe_deletion", "MKLWR", "A/-");
    check_both(17, "G", "GGGG", "inframe_insertion", "MGAKLWR", "-/G");
    /* deleting an A of AAA leaves AAC TGT GGC GCT AAG CAT TGT GAC C: no stop before the end of the RNA */
    check_both(21, "AA", "A", "frameshift_variant&splice_region_variant", "MANCGAKHCD", "K/X");
    check_both(45, "T", "TA", "frameshift_variant&splice_region_variant", "MAKLVALSIVT", "W/X");
}
END_TEST

START_TEST(location_consequences)
{
    check_both(12, "G", "T", "5_prime_UTR_variant", "MAKLWR", "");
    check_both(60, "T", "A", "3_prime_UTR_variant", "MAKLWR", "");
    check_both(24, "G", "A", "splice_donor_variant", "MAKLWR", "");
    check_both(43, "G", "C", "splice_acceptor_variant", "MAKLWR", "");
    check_both(27, "G", "A", "splice_region_variant&intron_variant", "MAKLWR", "");
    check_both(35, "C", "G", "intron_variant", "MAKLWR", "");
    check_both(23, "A", "G", "splice_region_variant&synonymous_variant", "MAKLWR", "");
    check_both(3, "C", "G", "upstream_gene_variant", "MAKLWR", "");
    check_both(70, "C", "G", "downstream_gene_variant", "MAKLWR", "");
    check_both(33, "C", "CTTT", "intron_variant", "MAKLWR", "");
}
END_TEST

START_TEST(edited_transcripts)
{
    /* a 2-base deletion upstream moves the TSS and every exon by -2 */
    effect x = apply("P", "c1", (iso_fasta_edit){3, 5, "", 0});
    ck_assert_int_eq(x.tss, 8);
    ck_assert_str_eq(x.rna, "GGGAAATGGCCAAACTGTGGCGCTAAGCATTGTGACC");
    ck_assert_str_eq(x.protein, "MAKLWR");
    ck_assert_int_eq(x.csq.distance, 5);
    effect_free(&x);
    /* an insertion before the first exon base joins the exon (and begins the RNA); one after its last base
     * joins the intron */
    x = apply("P", "c1", (iso_fasta_edit){10, 10, "AC", 2});
    ck_assert_int_eq(x.tss, 10);
    ck_assert_str_eq(x.rna, "ACGGGAAATGGCCAAACTGTGGCGCTAAGCATTGTGACC");
    char terms[128];
    iso_so_format(x.csq.terms, terms, sizeof terms);
    ck_assert_str_eq(terms, "5_prime_UTR_variant");
    effect_free(&x);
    x = apply("P", "c1", (iso_fasta_edit){24, 24, "AC", 2});
    ck_assert_str_eq(x.rna, "GGGAAATGGCCAAACTGTGGCGCTAAGCATTGTGACC");
    iso_so_format(x.csq.terms, terms, sizeof terms);
    ck_assert_str_eq(terms, "splice_donor_variant");
    effect_free(&x);
    /* deleting exon 1 entirely leaves exon 2, no start codon */
    x = apply("P", "c1", (iso_fasta_edit){9, 25, "", 0});
    ck_assert_str_eq(x.rna, "CTGTGGCGCTAAGCATTGTGACC");
    ck_assert(x.flags & ISO_ALT_START_LOST);
    effect_free(&x);
    /* deleting the whole transcript */
    x = apply("P", "c1", (iso_fasta_edit){5, 70, "", 0});
    ck_assert(x.flags & ISO_ALT_ABLATED);
    char buf[128];
    iso_so_format(x.csq.terms, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "transcript_ablation"));
    effect_free(&x);
    /* non-coding: exon and intron terms */
    x = apply("NC", "c1", (iso_fasta_edit){35, 36, "G", 1});
    iso_so_format(x.csq.terms, buf, sizeof buf);
    ck_assert_str_eq(buf, "intron_variant&non_coding_transcript_variant");
    effect_free(&x);
    x = apply("NC", "c1", (iso_fasta_edit){50, 51, "G", 1});
    iso_so_format(x.csq.terms, buf, sizeof buf);
    ck_assert_str_eq(buf, "non_coding_transcript_exon_variant");
    ck_assert_str_eq(iso_so_impact(x.csq.terms), "MODIFIER");
    effect_free(&x);
    ck_assert_str_eq(iso_so_impact(1u << ISO_SO_MISSENSE | 1u << ISO_SO_SPLICE_REGION), "MODERATE");
}
END_TEST

/* Transcript P copied onto chrM: read with the vertebrate mitochondrial code (NCBI table 2: TGA W, AGA and AGG
 * stops, ATA M; starts ATT ATC ATA ATG GTG), as extraction reads it, so that the consequences follow that code. They followed the
 * standard code (TGG>TGA stop_gained, ATG>ATA start_lost, TAA>TGA stop_retained, CGC>AGA synonymous). */
START_TEST(mitochondrial_code)
{
    char text[256];
    snprintf(text, sizeof text, ">chrM\n%s\n", c1);
    const char *path = test_file("variants_mito.fa", text);
    char fai[1100];
    snprintf(fai, sizeof fai, "%s.fai", path);
    unlink(fai);
    iso_fasta *mfa = iso_fasta_open(path);
    ck_assert_ptr_nonnull(mfa);
    iso_annotation *mann;
    ck_assert_int_eq(iso_annotation_read(test_file("variants_mito.gtf",
        "chrM\tt\texon\t11\t24\t.\t+\t.\tgene_id \"G\"; transcript_id \"P\";\n"
        "chrM\tt\texon\t45\t67\t.\t+\t.\tgene_id \"G\"; transcript_id \"P\";\n"
        "chrM\tt\tCDS\t16\t24\t.\t+\t0\tgene_id \"G\"; transcript_id \"P\";\n"
        "chrM\tt\tCDS\t45\t56\t.\t+\t0\tgene_id \"G\"; transcript_id \"P\";\n"), NULL, &mann), ISO_OK);
    static const struct {
        iso_fasta_edit e;
        const char *terms, *protein, *aa;
    } cases[] = {
        {{49, 50, "A", 1}, "synonymous_variant", "MAKLWR", ""},                /* TGG>TGA: W */
        {{50, 53, "AGA", 3}, "stop_gained", "MAKLW", "R/*"},                   /* CGC>AGA: stop */
        {{17, 18, "A", 1}, "synonymous_variant", "MAKLWR", ""},                /* ATG>ATA: M, a start */
        {{17, 18, "C", 1}, "synonymous_variant", "MAKLWR", ""},                /* ATG>ATC: a start, so M */
        {{16, 17, "C", 1}, "start_lost", "", "M/X"},                           /* ATG>ACG: not a start */
        {{54, 55, "G", 1}, "stop_lost", "MAKLWRWALW", "*/W"},                  /* TAA>TGA: W, read on to the end */
        {{53, 54, "A", 1}, "stop_lost", "MAKLWRKALW", "*/K"},                  /* TAA>AAA */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        effect x = apply_in(mfa, mann, "P", "chrM", cases[i].e);
        char buf[256];
        iso_so_format(x.csq.terms, buf, sizeof buf);
        ck_assert_msg(!strcmp(buf, cases[i].terms) && !strcmp(x.protein, cases[i].protein) &&
                          !strcmp(x.csq.amino_acids, cases[i].aa),
                      "case %zu: %s %s %s", i, buf, x.protein, x.csq.amino_acids);
        effect_free(&x);
    }
    iso_annotation_free(mann);
    iso_fasta_close(mfa);
}
END_TEST

/* bcftools reads these (htslib declares the contig and tags itself); they used to fail as "malformed" */
START_TEST(vcf_undeclared_contig_and_tags_are_read)
{
    const char *path = test_file("variants_undeclared.vcf",
                                 "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                 "c1\t16\t.\tA\tG\t.\t.\t.\n"
                                 "c1\t17\t.\tA\tT\t.\tq9\tXX=1;YY\n"
                                 "c1\t18\t.\tA\tC\t.\t.\tXX=2\n");
    iso_vcf *v;
    ck_assert_msg(iso_vcf_open(path, fa, NULL, NULL, 0, NULL, &v) == ISO_OK, "%s", iso_last_error());
    iso_vcf_record *r;
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(iso_vcf_next(v, &r) == 1, "record %d: %s", i + 1, iso_last_error());
        ck_assert_str_eq(r->chrom, "c1");
        ck_assert_int_eq(r->pos, 15 + i);
        iso_vcf_record_free(r);
    }
    ck_assert_int_eq(iso_vcf_next(v, &r), 0);
    iso_vcf_close(v);
}
END_TEST

/* a .vcf.gz without its BGZF end-of-file block reads as a shorter VCF through htslib */
START_TEST(vcf_truncated_bgzip_is_refused)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/variants_cut.vcf.gz", ISO_TEST_TMP);
    static const char text[] = "##fileformat=VCFv4.2\n##contig=<ID=c1>\n"
                               "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nc1\t16\t.\tA\tG\t.\t.\t.\n";
    BGZF *z = bgzf_open(path, "w");
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(bgzf_write(z, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    ck_assert_int_eq(bgzf_close(z), 0);
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    iso_vcf *v;
    ck_assert_int_eq(iso_vcf_open(path, fa, NULL, NULL, 0, NULL, &v), ISO_OK); /* complete */
    iso_vcf_close(v);
    ck_assert_int_eq(truncate(path, size - 28), 0);
    ck_assert_int_eq(iso_vcf_open(path, fa, NULL, NULL, 0, NULL, &v), ISO_EFORMAT);
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(iso_last_error(), "variants_cut.vcf.gz: truncated: its BGZF end-of-file block is missing"),
                  "%s", iso_last_error());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("variants");
    TCase *tc = tcase_create("variants");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, trim_alleles);
    tcase_add_test(tc, boundary_maps);
    tcase_add_test(tc, edited_view);
    tcase_add_test(tc, coding_consequences);
    tcase_add_test(tc, location_consequences);
    tcase_add_test(tc, edited_transcripts);
    tcase_add_test(tc, mitochondrial_code);
    tcase_add_test(tc, vcf_undeclared_contig_and_tags_are_read);
    tcase_add_test(tc, vcf_truncated_bgzip_is_refused);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
