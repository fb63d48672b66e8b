/* GTF/GFF3 reader: flavours, normalisation (sorting, stop codon, phase, TSS, flags) and malformed inputs. */
#include <check.h>

#include "check_run.h"
#include "isoformer/annotation.h"
#include "isoformer/io.h"
#include "test_files.h"

#define A "\tt\t"
#define GENC(tx) "gene_id \"G1.1\"; transcript_id \"" tx "\"; gene_name \"GENE1\"; transcript_type \"protein_coding\";"

static iso_annotation *read_ok(const char *name, const char *text)
{
    iso_annotation *a = NULL;
    int rc = iso_annotation_read(test_file(name, text), NULL, &a);
    ck_assert_msg(rc == ISO_OK, "%s", iso_last_error());
    return a;
}

/* Reads text expecting failure; checks the message names file:line and contains what. */
static void read_fails(const char *name, const char *text, long line, const char *what)
{
    iso_annotation *a = (iso_annotation *)1;
    int rc = iso_annotation_read(test_file(name, text), NULL, &a);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(a);
    char where[256];
    snprintf(where, sizeof where, "%s:%ld:", name, line);
    ck_assert_msg(strstr(iso_last_error(), where) && strstr(iso_last_error(), what), "got: %s (want %s ... %s)",
                  iso_last_error(), where, what);
}

/* GENCODE style on the minus strand: exons listed 5'->3' (descending), CDS lines without the stop codon. */
static const char *const gencode_minus = "##format: gtf\n"
    "c1\tHAVANA\tgene\t100\t400\t.\t-\t.\tgene_id \"G1.1\"; gene_name \"GENE1\";\n"
    "c1\tHAVANA\ttranscript\t100\t400\t.\t-\t.\t" GENC("T1.2") "\n"
    "c1\tHAVANA\texon\t300\t400\t.\t-\t.\t" GENC("T1.2") "\n"
    "c1\tHAVANA\tCDS\t300\t350\t.\t-\t0\t" GENC("T1.2") "\n"
    "c1\tHAVANA\tstart_codon\t348\t350\t.\t-\t0\t" GENC("T1.2") "\n"
    "c1\tHAVANA\texon\t100\t200\t.\t-\t.\t" GENC("T1.2") "\n"
    "c1\tHAVANA\tCDS\t153\t200\t.\t-\t0\t" GENC("T1.2") "\n"
    "c1\tHAVANA\tstop_codon\t150\t152\t.\t-\t0\t" GENC("T1.2") "\n"
    "c1\tHAVANA\tUTR\t100\t149\t.\t-\t.\t" GENC("T1.2") "\n";

START_TEST(gencode_minus_strand)
{
    iso_annotation *a = read_ok("ann_gencode.gtf", gencode_minus);
    ck_assert_uint_eq(a->n, 1);
    const iso_transcript *t = &a->tx[0];
    ck_assert_str_eq(t->transcript_id, "T1.2");
    ck_assert_str_eq(t->gene_id, "G1.1");
    ck_assert_str_eq(t->gene_name, "GENE1");
    ck_assert_str_eq(t->biotype, "protein_coding");
    ck_assert_str_eq(t->chrom, "c1");
    ck_assert_int_eq(t->strand, '-');
    ck_assert_int_eq(t->n_exons, 2);
    ck_assert_int_eq(t->exons[0].start, 99);
    ck_assert_int_eq(t->exons[0].end, 200);
    ck_assert_int_eq(t->exons[1].start, 299);
    ck_assert_int_eq(t->exons[1].end, 400);
    ck_assert_int_eq(t->n_cds, 2);
    ck_assert_int_eq(t->cds[0].start, 149); /* extended by the stop codon 150-152 */
    ck_assert_int_eq(t->cds[0].end, 200);
    ck_assert_int_eq(t->cds[1].start, 299);
    ck_assert_int_eq(t->cds[1].end, 350);
    ck_assert_int_eq(t->tss, 399);
    ck_assert_int_eq(t->cds_phase, 0);
    ck_assert_uint_eq(t->flags, ISO_TX_CODING); /* 51 + 51 = 102 bases: whole codons */
    ck_assert_int_eq(t->line, 3); /* the transcript line */
    ck_assert_int_eq(iso_annotation_find(a, "T1.2"), 0);
    ck_assert_int_eq(iso_annotation_find(a, "T1"), 0);
    ck_assert_int_eq(iso_annotation_find(a, "T1.7"), 0);
    ck_assert_int_eq(iso_annotation_find(a, "T2"), -1);
    iso_annotation_free(a);
}
END_TEST

/* GENCODE's pseudoautosomal copies (ENST...N_PAR_Y): quantifiers write them with another version, or none. */
START_TEST(versions_before_par_suffix)
{
    iso_annotation *a = read_ok("par.gtf", "chrX\tt\texon\t1\t9\t.\t+\t.\tgene_id \"G\"; transcript_id \"ENST5.4\";\n"
                                           "chrY\tt\texon\t1\t9\t.\t+\t.\tgene_id \"G_PAR_Y\"; "
                                           "transcript_id \"ENST5.4_PAR_Y\";\n");
    ck_assert_int_eq(iso_annotation_find(a, "ENST5.4_PAR_Y"), 1);
    ck_assert_int_eq(iso_annotation_find(a, "ENST5.3_PAR_Y"), 1);
    ck_assert_int_eq(iso_annotation_find(a, "ENST5_PAR_Y"), 1);
    ck_assert_int_eq(iso_annotation_find(a, "ENST5.3"), 0);
    ck_assert_int_eq(iso_annotation_find(a, "ENST5"), 0);
    ck_assert_int_eq(iso_annotation_find(a, "ENST5.x_PAR_Y"), -1);
    iso_annotation_free(a);
}
END_TEST

START_TEST(stop_codon_split_across_exons)
{
    iso_annotation *a = read_ok("ann_split_stop.gtf",
        "c1" A "exon\t10\t20\t.\t+\t.\ttranscript_id \"T\"; gene_id \"G\";\n"
        "c1" A "exon\t30\t40\t.\t+\t.\ttranscript_id \"T\"; gene_id \"G\";\n"
        "c1" A "CDS\t11\t19\t.\t+\t0\ttranscript_id \"T\"; gene_id \"G\";\n"
        "c1" A "start_codon\t11\t13\t.\t+\t0\ttranscript_id \"T\"; gene_id \"G\";\n"
        "c1" A "stop_codon\t20\t20\t.\t+\t0\ttranscript_id \"T\"; gene_id \"G\";\n"
        "c1" A "stop_codon\t30\t31\t.\t+\t2\ttranscript_id \"T\"; gene_id \"G\";\n");
    const iso_transcript *t = &a->tx[0];
    ck_assert_int_eq(t->n_cds, 2);
    ck_assert_int_eq(t->cds[0].start, 10);
    ck_assert_int_eq(t->cds[0].end, 20);
    ck_assert_int_eq(t->cds[1].start, 29);
    ck_assert_int_eq(t->cds[1].end, 31);
    ck_assert_int_eq(t->tss, 9);
    ck_assert_str_eq(t->gene_name, "G"); /* no gene_name: the gene id stands in */
    ck_assert_uint_eq(t->flags, ISO_TX_CODING);
    iso_annotation_free(a);
}
END_TEST

START_TEST(ensembl_biotype_tags_and_phase)
{
    /* minus strand, 5'-most CDS (the highest one) has phase 2 and the transcript is tagged cds_start_NF;
     * no stop_codon line while the file has codon features: flagged */
    iso_annotation *a = read_ok("ann_ensembl.gtf",
        "1\tensembl\texon\t1\t50\t.\t-\t.\tgene_id \"E1\"; transcript_id \"ET1\"; gene_biotype \"protein_coding\"; "
        "transcript_biotype \"nonsense_mediated_decay\"; tag \"basic\"; tag \"cds_start_NF\";\n"
        "1\tensembl\tCDS\t4\t50\t.\t-\t2\tgene_id \"E1\"; transcript_id \"ET1\"; tag \"cds_start_NF\";\n"
        "1\tensembl\texon\t100\t120\t.\t+\t.\tgene_id \"E2\"; transcript_id \"ET2\"; transcript_biotype \"lncRNA\";\n"
        "1\tensembl\tstart_codon\t100\t102\t.\t+\t0\tgene_id \"E2\"; transcript_id \"ET3\";\n"
        "1\tensembl\texon\t100\t120\t.\t+\t.\tgene_id \"E2\"; transcript_id \"ET3\";\n"
        "1\tensembl\tCDS\t100\t110\t.\t+\t0\tgene_id \"E2\"; transcript_id \"ET3\";\n");
    ck_assert_uint_eq(a->n, 3);
    const iso_transcript *t = &a->tx[0];
    ck_assert_str_eq(t->biotype, "nonsense_mediated_decay");
    ck_assert_int_eq(t->cds_phase, 2);
    ck_assert_uint_eq(t->flags, ISO_TX_CODING | ISO_TX_NO_START_CODON | ISO_TX_NO_STOP_CODON);
    ck_assert_str_eq(a->tx[1].biotype, "lncRNA");
    ck_assert_uint_eq(a->tx[1].flags, 0);
    ck_assert_int_eq(a->tx[1].n_cds, 0);
    /* 11 CDS bases: not whole codons; start codon present, stop missing */
    ck_assert_uint_eq(a->tx[2].flags, ISO_TX_CODING | ISO_TX_NO_STOP_CODON | ISO_TX_CDS_PARTIAL_CODON);
    iso_annotation_free(a);
}
END_TEST

/* RefSeq as in Illumina iGenomes genes.gtf: gene_id is the symbol, no biotype, CDS without the stop codon. */
START_TEST(refseq_igenomes)
{
    iso_annotation *a = read_ok("ann_igenomes.gtf",
        "chr21\tunknown\texon\t100\t160\t.\t+\t.\tgene_id \"APP\"; gene_name \"APP\"; transcript_id "
        "\"NM_000484\"; tss_id \"TSS1\";\n"
        "chr21\tunknown\tCDS\t110\t145\t.\t+\t0\tgene_id \"APP\"; gene_name \"APP\"; p_id \"P1\"; "
        "transcript_id \"NM_000484\"; tss_id \"TSS1\";\n"
        "chr21\tunknown\tstart_codon\t110\t112\t.\t+\t0\tgene_id \"APP\"; gene_name \"APP\"; p_id \"P1\"; "
        "transcript_id \"NM_000484\"; tss_id \"TSS1\";\n"
        "chr21\tunknown\tstop_codon\t146\t148\t.\t+\t0\tgene_id \"APP\"; gene_name \"APP\"; p_id \"P1\"; "
        "transcript_id \"NM_000484\"; tss_id \"TSS1\";\n");
    const iso_transcript *t = &a->tx[0];
    ck_assert_str_eq(t->transcript_id, "NM_000484");
    ck_assert_str_eq(t->gene_id, "APP");
    ck_assert_str_eq(t->biotype, "");
    ck_assert_int_eq(t->n_cds, 1);
    ck_assert_int_eq(t->cds[0].start, 109);
    ck_assert_int_eq(t->cds[0].end, 148);
    ck_assert_uint_eq(t->flags, ISO_TX_CODING);
    iso_annotation_free(a);
}
END_TEST

START_TEST(selenocysteine)
{
    iso_annotation *a = read_ok("ann_sec.gtf",
        "c1" A "exon\t1\t30\t.\t+\t.\ttranscript_id \"S\"; gene_id \"G\";\n"
        "c1" A "CDS\t1\t30\t.\t+\t0\ttranscript_id \"S\"; gene_id \"G\";\n"
        "c1" A "Selenocysteine\t7\t9\t.\t+\t.\ttranscript_id \"S\"; gene_id \"G\";\n");
    ck_assert_int_eq(a->tx[0].n_sec, 1);
    ck_assert_int_eq(a->tx[0].sec_pos[0], 6);
    ck_assert(a->tx[0].flags & ISO_TX_SELENOCYSTEINE);
    iso_annotation_free(a);
}
END_TEST

START_TEST(gff3_with_genes_and_shared_exons)
{
    iso_annotation *a = read_ok("ann.gff3",
        "##gff-version 3\n"
        "c1\ts\tgene\t10\t60\t.\t+\t.\tID=gene1;Name=ABC\n"
        "c1\ts\tmRNA\t10\t60\t.\t+\t.\tID=tx1;Parent=gene1;Name=ABC-201;biotype=protein_coding\n"
        "c1\ts\tmRNA\t10\t60\t.\t+\t.\tID=tx%3B2;Parent=gene1\n"
        "c1\ts\texon\t10\t20\t.\t+\t.\tParent=tx1,tx%3B2\n"
        "c1\ts\texon\t40\t60\t.\t+\t.\tID=e2;Parent=tx1\n"
        "c1\ts\texon\t50\t60\t.\t+\t.\tParent=tx%3b2\n"
        "c1\ts\tCDS\t15\t20\t.\t+\t0\tParent=tx1\n"
        "c1\ts\tCDS\t40\t45\t.\t+\t0\tParent=tx1\n"
        "c1\ts\tthree_prime_UTR\t46\t60\t.\t+\t.\tParent=tx1\n");
    ck_assert_uint_eq(a->n, 2);
    const iso_transcript *t = &a->tx[0];
    ck_assert_str_eq(t->transcript_id, "tx1");
    ck_assert_str_eq(t->gene_id, "gene1");
    ck_assert_str_eq(t->gene_name, "ABC");
    ck_assert_str_eq(t->biotype, "protein_coding");
    ck_assert_int_eq(t->n_exons, 2);
    ck_assert_int_eq(t->n_cds, 2);
    ck_assert_int_eq(t->cds[1].end, 45);
    ck_assert_uint_eq(t->flags, ISO_TX_CODING);
    ck_assert_str_eq(a->tx[1].transcript_id, "tx;2"); /* %3B decoded */
    ck_assert_int_eq(a->tx[1].n_exons, 2);
    ck_assert_int_eq(a->tx[1].exons[1].start, 49);
    ck_assert_str_eq(a->tx[1].gene_name, "ABC");
    iso_annotation_free(a);
}
END_TEST

/* Ensembl GFF3: pseudogenes (type pseudogene, not *gene) and transcript types beyond a fixed list (vault_RNA,
 * V_gene_segment) keep their gene and their transcript_id; RefSeq pseudogenes may have exons under the gene. */
START_TEST(gff3_gene_and_transcript_types)
{
    iso_annotation *a = read_ok("types.gff3",
        "##gff-version 3\n"
        "c1\ts\tpseudogene\t10\t60\t.\t+\t.\tID=gene:G1;Name=PSG;gene_id=G1;biotype=processed_pseudogene\n"
        "c1\ts\tpseudogenic_transcript\t10\t60\t.\t+\t.\tID=transcript:T1;Parent=gene:G1;transcript_id=T1;"
        "biotype=processed_pseudogene\n"
        "c1\ts\texon\t10\t60\t.\t+\t.\tParent=transcript:T1\n"
        "c1\ts\tncRNA_gene\t70\t90\t.\t-\t.\tID=gene:G2;Name=VT;gene_id=G2\n"
        "c1\ts\tvault_RNA\t70\t90\t.\t-\t.\tID=transcript:T2;Parent=gene:G2;transcript_id=T2;biotype=vault_RNA\n"
        "c1\ts\texon\t70\t90\t.\t-\t.\tParent=transcript:T2\n"
        "c1\ts\tgene\t100\t200\t.\t+\t.\tID=gene:G3;Name=IGV;gene_id=G3\n"
        "c1\ts\tV_gene_segment\t100\t200\t.\t+\t.\tID=transcript:T3;Parent=gene:G3;transcript_id=T3;"
        "biotype=IG_V_gene\n"
        "c1\ts\texon\t100\t200\t.\t+\t.\tParent=transcript:T3\n"
        "c1\ts\tCDS\t100\t200\t.\t+\t0\tID=CDS:P3;Parent=transcript:T3\n"
        "c1\ts\tpseudogene\t300\t400\t.\t-\t.\tID=gene-LOC4;Name=LOC4;gene_biotype=pseudogene\n"
        "c1\ts\texon\t300\t320\t.\t-\t.\tID=id-LOC4;Parent=gene-LOC4\n"
        "c1\ts\texon\t380\t400\t.\t-\t.\tID=id-LOC4-2;Parent=gene-LOC4\n");
    ck_assert_uint_eq(a->n, 4);
    static const char *const want[][4] = {{"T1", "G1", "PSG", "processed_pseudogene"},
                                          {"T2", "G2", "VT", "vault_RNA"},
                                          {"T3", "G3", "IGV", "IG_V_gene"},
                                          {"gene-LOC4", "gene-LOC4", "LOC4", "pseudogene"}};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(a->tx[i].transcript_id, want[i][0]);
        ck_assert_str_eq(a->tx[i].gene_id, want[i][1]);
        ck_assert_str_eq(a->tx[i].gene_name, want[i][2]);
        ck_assert_str_eq(a->tx[i].biotype, want[i][3]);
    }
    ck_assert_int_eq(a->tx[2].n_cds, 1);
    ck_assert_int_eq(a->tx[3].n_exons, 2);
    iso_annotation_free(a);
}
END_TEST

/* RefSeq GFF3 as NCBI writes it for human: the biotype only on the gene line (gene_biotype), Dbxref lists, tags
 * with spaces, exons under rna-..., one CDS ID over several lines; MT genes (and every gene of a prokaryote) have
 * their CDS directly under the gene, with no mRNA or exon lines: gffread reads that CDS as the exons. */
START_TEST(gff3_refseq_conventions)
{
    iso_annotation *a = read_ok("refseq.gff3",
        "##gff-version 3\n"
        "chr1\tBestRefSeq\tgene\t100\t400\t.\t+\t.\tID=gene-ABC;Dbxref=GeneID:7,HGNC:HGNC:9;Name=ABC;gbkey=Gene;"
        "gene=ABC;gene_biotype=protein_coding\n"
        "chr1\tBestRefSeq\tmRNA\t100\t400\t.\t+\t.\tID=rna-NM_7.2;Parent=gene-ABC;Dbxref=GeneID:7,GenBank:NM_7.2;"
        "Name=NM_7.2;gbkey=mRNA;gene=ABC;product=abc;tag=MANE Select;transcript_id=NM_7.2\n"
        "chr1\tBestRefSeq\texon\t100\t200\t.\t+\t.\tID=exon-NM_7.2-1;Parent=rna-NM_7.2;gbkey=mRNA;transcript_id=NM_7.2\n"
        "chr1\tBestRefSeq\texon\t300\t400\t.\t+\t.\tID=exon-NM_7.2-2;Parent=rna-NM_7.2;gbkey=mRNA;transcript_id=NM_7.2\n"
        "chr1\tBestRefSeq\tCDS\t150\t200\t.\t+\t0\tID=cds-NP_7.1;Parent=rna-NM_7.2;gbkey=CDS;protein_id=NP_7.1\n"
        "chr1\tBestRefSeq\tCDS\t300\t350\t.\t+\t0\tID=cds-NP_7.1;Parent=rna-NM_7.2;gbkey=CDS;protein_id=NP_7.1\n"
        "chrM\tRefSeq\tgene\t3307\t4262\t.\t+\t.\tID=gene-ND1;Name=ND1;gbkey=Gene;gene=ND1;gene_biotype=protein_coding\n"
        "chrM\tRefSeq\tCDS\t3307\t4262\t.\t+\t0\tID=cds-YP_1.1;Parent=gene-ND1;gbkey=CDS;transl_table=2\n"
        "chrM\tRefSeq\tpseudogene\t5001\t5400\t.\t-\t.\tID=gene-P;Name=P;gene_biotype=pseudogene;pseudo=true\n"
        "chrM\tRefSeq\tCDS\t5001\t5100\t.\t-\t.\tID=cds-P;Parent=gene-P;pseudo=true\n"
        "chrM\tRefSeq\tCDS\t5201\t5400\t.\t-\t1\tID=cds-P;Parent=gene-P;pseudo=true\n");
    ck_assert_uint_eq(a->n, 3);
    const iso_transcript *t = &a->tx[0];
    ck_assert_str_eq(t->transcript_id, "NM_7.2");
    ck_assert_str_eq(t->gene_id, "gene-ABC");
    ck_assert_str_eq(t->gene_name, "ABC");
    ck_assert_str_eq(t->biotype, "protein_coding");
    ck_assert_int_eq(t->n_exons, 2);
    ck_assert_int_eq(t->n_cds, 2);
    ck_assert_uint_eq(t->flags, ISO_TX_CODING);
    t = &a->tx[1]; /* gffread: ID gene-ND1, one exon 3307-4262, the CDS */
    ck_assert_str_eq(t->transcript_id, "gene-ND1");
    ck_assert_str_eq(t->gene_id, "gene-ND1");
    ck_assert_str_eq(t->gene_name, "ND1");
    ck_assert_str_eq(t->biotype, "protein_coding");
    ck_assert_int_eq(t->n_exons, 1);
    ck_assert_int_eq(t->exons[0].start, 3306);
    ck_assert_int_eq(t->exons[0].end, 4262);
    ck_assert_int_eq(t->n_cds, 1);
    ck_assert_mem_eq(t->cds, t->exons, sizeof *t->cds);
    ck_assert_int_eq(t->tss, 3306);
    t = &a->tx[2]; /* two CDS pieces, two exons; the 5'-most (highest) has phase 1 */
    ck_assert_str_eq(t->biotype, "pseudogene");
    ck_assert_int_eq(t->n_exons, 2);
    ck_assert_mem_eq(t->cds, t->exons, 2 * sizeof *t->cds);
    ck_assert_int_eq(t->exons[1].end, 5400);
    ck_assert_int_eq(t->tss, 5399);
    ck_assert_int_eq(t->cds_phase, 1);
    iso_annotation_free(a);
    /* GTF too: a CDS and its stop codon without exon lines are the exons (gffread: one exon 101-403) */
    a = read_ok("cds_only.gtf", "c1\tt\tCDS\t101\t400\t.\t+\t0\tgene_id \"G\"; transcript_id \"X\";\n"
                                "c1\tt\tstop_codon\t401\t403\t.\t+\t0\tgene_id \"G\"; transcript_id \"X\";\n");
    ck_assert_int_eq(a->tx[0].n_exons, 1);
    ck_assert_int_eq(a->tx[0].exons[0].start, 100);
    ck_assert_int_eq(a->tx[0].exons[0].end, 403);
    ck_assert_int_eq(a->tx[0].cds[0].end, 403);
    iso_annotation_free(a);
    /* RefSeq's miRNAs: the mature miRNA's Parent is the primary transcript, whose Parent is the gene (the gene id,
     * name and biotype were the primary transcript's ID, its ID and '.') */
    a = read_ok("refseq_mirna.gff3",
        "##gff-version 3\n"
        "chr1\tBestRefSeq\tgene\t30366\t30503\t.\t+\t.\tID=gene-MIR1302-2;Name=MIR1302-2;gbkey=Gene;"
        "gene=MIR1302-2;gene_biotype=miRNA\n"
        "chr1\tBestRefSeq\tprimary_transcript\t30366\t30503\t.\t+\t.\tID=rna-NR_036051.1;"
        "Parent=gene-MIR1302-2;gbkey=precursor_RNA;gene=MIR1302-2;transcript_id=NR_036051.1\n"
        "chr1\tBestRefSeq\texon\t30366\t30503\t.\t+\t.\tID=exon-NR_036051.1-1;Parent=rna-NR_036051.1\n"
        "chr1\tBestRefSeq\tmiRNA\t30438\t30458\t.\t+\t.\tID=rna-MIR1302-2;Parent=rna-NR_036051.1;"
        "gbkey=ncRNA;gene=MIR1302-2;product=hsa-miR-1302\n"
        "chr1\tBestRefSeq\texon\t30438\t30458\t.\t+\t.\tID=exon-MIR1302-2-1;Parent=rna-MIR1302-2\n");
    ck_assert_uint_eq(a->n, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_str_eq(a->tx[i].gene_id, "gene-MIR1302-2");
        ck_assert_str_eq(a->tx[i].gene_name, "MIR1302-2");
        ck_assert_str_eq(a->tx[i].biotype, "miRNA");
    }
    ck_assert_str_eq(a->tx[1].transcript_id, "rna-MIR1302-2");
    ck_assert_int_eq(a->tx[1].exons[0].start, 30437);
    iso_annotation_free(a);
}
END_TEST

/* A -1 ribosomal slippage as RefSeq writes it (PEG10; prokaryote genes with the CDS under the gene): CDS lines
 * with exception=ribosomal slippage that overlap by a base, kept as given (the whole file was refused before);
 * without the exception, or a segment inside the last, still refused. */
START_TEST(gff3_ribosomal_slippage)
{
    iso_annotation *a = read_ok("slippage.gff3",
        "##gff-version 3\n"
        "c1\tBestRefSeq\tgene\t11\t100\t.\t-\t.\tID=gene-P;Name=P;gene_biotype=protein_coding\n"
        "c1\tBestRefSeq\tmRNA\t11\t100\t.\t-\t.\tID=rna-NM_1.1;Parent=gene-P\n"
        "c1\tBestRefSeq\texon\t11\t100\t.\t-\t.\tID=exon-1;Parent=rna-NM_1.1\n"
        "c1\tBestRefSeq\tCDS\t50\t79\t.\t-\t0\tID=cds-1;Parent=rna-NM_1.1;exception=ribosomal slippage\n"
        "c1\tBestRefSeq\tCDS\t21\t50\t.\t-\t0\tID=cds-1;Parent=rna-NM_1.1;exception=ribosomal slippage\n"
        "c1\tRefSeq\tgene\t201\t290\t.\t+\t.\tID=gene-prfB;Name=prfB;gene_biotype=protein_coding\n"
        "c1\tRefSeq\tCDS\t201\t276\t.\t+\t0\tID=cds-2;Parent=gene-prfB;exception=ribosomal slippage\n"
        "c1\tRefSeq\tCDS\t276\t289\t.\t+\t0\tID=cds-2;Parent=gene-prfB;exception=ribosomal slippage\n");
    ck_assert_uint_eq(a->n, 2);
    const iso_transcript *t = &a->tx[0];
    ck_assert_uint_eq(t->flags, ISO_TX_CODING | ISO_TX_RIBOSOMAL_SLIPPAGE);
    ck_assert_int_eq(t->n_cds, 2);
    ck_assert_int_eq(t->cds[0].start, 20);
    ck_assert_int_eq(t->cds[0].end, 50);
    ck_assert_int_eq(t->cds[1].start, 49);
    ck_assert_int_eq(t->cds[1].end, 79);
    t = &a->tx[1]; /* the CDS is the exons: one exon over both segments */
    ck_assert_uint_eq(t->flags, ISO_TX_CODING | ISO_TX_RIBOSOMAL_SLIPPAGE);
    ck_assert_int_eq(t->n_cds, 2);
    ck_assert_int_eq(t->n_exons, 1);
    ck_assert_int_eq(t->exons[0].start, 200);
    ck_assert_int_eq(t->exons[0].end, 289);
    /* the library's own transcripts: the flag allows the same overlap, and only with it */
    iso_annotation *b = NULL;
    ck_assert_int_eq(iso_annotation_from_transcripts("mem", a->tx, a->n, &b), ISO_OK);
    ck_assert_int_eq(b->tx[0].cds[1].start, 49);
    iso_annotation_free(b);
    iso_transcript plain = a->tx[0];
    plain.flags = ISO_TX_CODING;
    ck_assert_int_lt(iso_annotation_from_transcripts("mem", &plain, 1, &b), 0);
    iso_annotation_free(a);
    read_fails("overlap.gff3", "##gff-version 3\nc1\tt\tmRNA\t11\t100\t.\t+\t.\tID=X\n"
               "c1\tt\tCDS\t21\t50\t.\t+\t0\tParent=X\nc1\tt\tCDS\t50\t79\t.\t+\t0\tParent=X\n", 4,
               "only CDS lines with exception=ribosomal slippage may overlap");
    read_fails("inside.gff3", "##gff-version 3\nc1\tt\tmRNA\t11\t100\t.\t+\t.\tID=X\n"
               "c1\tt\tCDS\t21\t80\t.\t+\t0\tParent=X;exception=ribosomal slippage\n"
               "c1\tt\tCDS\t50\t79\t.\t+\t0\tParent=X;exception=ribosomal slippage\n", 4,
               "each extend the last");
}
END_TEST

/* GFF3 lets a feature have several parents: a transcript under two genes belongs to the first, as gffread files it
 * (geneID=g1), with that gene's name and biotype; an escaped ',' in a gene ID is no separator. */
START_TEST(gff3_transcript_with_two_genes)
{
    iso_annotation *a = read_ok("two_genes.gff3",
        "##gff-version 3\n"
        "c1\ts\tgene\t101\t400\t.\t+\t.\tID=g1;Name=A;gene_biotype=protein_coding\n"
        "c1\ts\tgene\t101\t900\t.\t+\t.\tID=g2;Name=B;gene_biotype=lncRNA\n"
        "c1\ts\tgene\t101\t900\t.\t+\t.\tID=g%2C3;Name=C;biotype=snRNA\n"
        "c1\ts\tmRNA\t101\t400\t.\t+\t.\tID=t1;Parent=g1,g2\n"
        "c1\ts\texon\t101\t400\t.\t+\t.\tParent=t1\n"
        "c1\ts\tlnc_RNA\t101\t400\t.\t+\t.\tID=t2;Parent=g2,g1\n"
        "c1\ts\texon\t101\t400\t.\t+\t.\tParent=t2\n"
        "c1\ts\tsnRNA\t101\t400\t.\t+\t.\tID=t3;Parent=g%2C3,g1\n"
        "c1\ts\texon\t101\t400\t.\t+\t.\tParent=t3\n");
    static const char *const want[][3] = {{"g1", "A", "protein_coding"}, {"g2", "B", "lncRNA"}, {"g,3", "C", "snRNA"}};
    ck_assert_uint_eq(a->n, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(a->tx[i].gene_id, want[i][0]);
        ck_assert_str_eq(a->tx[i].gene_name, want[i][1]);
        ck_assert_str_eq(a->tx[i].biotype, want[i][2]);
    }
    iso_annotation_free(a);
}
END_TEST

/* A GFF3 may carry its genome after ##FASTA (or after a first '>' header line): not features. */
START_TEST(gff3_with_fasta_section)
{
    const char *features = "##gff-version 3\n"
                           "c1\ts\tmRNA\t1\t9\t.\t+\t.\tID=t1\n"
                           "c1\ts\texon\t1\t9\t.\t+\t.\tParent=t1\n";
    char text[512];
    snprintf(text, sizeof text, "%s##FASTA\n>c1\nACGTACGTA\n", features);
    iso_annotation *a = read_ok("fasta_section.gff3", text);
    ck_assert_uint_eq(a->n, 1);
    ck_assert_int_eq(a->tx[0].exons[0].end, 9);
    iso_annotation_free(a);
    snprintf(text, sizeof text, "%s>c1\nACGTACGTA\n", features);
    a = read_ok("fasta_no_directive.gff3", text);
    ck_assert_uint_eq(a->n, 1);
    iso_annotation_free(a);
}
END_TEST

/* RefSeq names the X and Y copies of a pseudoautosomal transcript alike (transcript_id) with distinct IDs: each
 * keeps its ID, as gffread names them, so both can be found; a transcript_id of its own is still used. */
START_TEST(gff3_shared_transcript_id)
{
    iso_annotation *a = read_ok("par.gff3",
        "##gff-version 3\n"
        "X\ts\tmRNA\t1\t9\t.\t+\t.\tID=rna-NM_1.4;Parent=gene-S;transcript_id=NM_1.4\n"
        "X\ts\texon\t1\t9\t.\t+\t.\tParent=rna-NM_1.4\n"
        "X\ts\tmRNA\t20\t29\t.\t+\t.\tID=rna-NM_2.1;Parent=gene-T;transcript_id=NM_2.1\n"
        "X\ts\texon\t20\t29\t.\t+\t.\tParent=rna-NM_2.1\n"
        "Y\ts\tmRNA\t1\t9\t.\t+\t.\tID=rna-NM_1.4-2;Parent=gene-S-2;transcript_id=NM_1.4\n"
        "Y\ts\texon\t1\t9\t.\t+\t.\tParent=rna-NM_1.4-2\n");
    ck_assert_uint_eq(a->n, 3);
    ck_assert_str_eq(a->tx[0].transcript_id, "rna-NM_1.4");
    ck_assert_str_eq(a->tx[1].transcript_id, "NM_2.1");
    ck_assert_str_eq(a->tx[2].transcript_id, "rna-NM_1.4-2");
    ck_assert_int_eq(iso_annotation_find(a, "rna-NM_1.4-2"), 2);
    ck_assert_int_eq(iso_annotation_find(a, "rna-NM_1.4"), 0);
    iso_annotation_free(a);
}
END_TEST

START_TEST(crlf_and_gzip)
{
    const char *text = "c1\tt\texon\t5\t9\t.\t+\t.\ttranscript_id \"X\";\r\n"
                       "c1\tt\texon\t1\t3\t.\t+\t.\ttranscript_id \"X\";\r\n";
    iso_annotation *a = read_ok("ann_crlf.gtf", text);
    ck_assert_int_eq(a->tx[0].n_exons, 2);
    ck_assert_int_eq(a->tx[0].exons[0].start, 0);
    ck_assert_int_eq(a->tx[0].tss, 0);
    ck_assert_str_eq(a->tx[0].transcript_id, "X");
    iso_annotation_free(a);
    ck_assert_int_eq(iso_annotation_read(test_gzip_file("ann.gtf.gz", text, 0), NULL, &a), ISO_OK);
    ck_assert_int_eq(a->tx[0].n_exons, 2);
    iso_annotation_free(a);
}
END_TEST

START_TEST(malformed)
{
    read_fails("bad_cols.gtf", "c1\tt\texon\t1\t5\t.\t+\t.\ttranscript_id \"X\";\nc1 t exon 1 5 . + . x\n", 2,
               "expected 9 tab-separated columns");
    read_fails("bad_order.gtf", "c1\tt\texon\t9\t5\t.\t+\t.\ttranscript_id \"X\";\n", 1, "is after end");
    read_fails("bad_num.gtf", "#c\nc1\tt\texon\t1x\t5\t.\t+\t.\ttranscript_id \"X\";\n", 2, "positive integer");
    read_fails("bad_zero.gtf", "c1\tt\texon\t0\t5\t.\t+\t.\ttranscript_id \"X\";\n", 1, "positive integer");
    read_fails("bad_noid.gtf", "c1\tt\texon\t1\t5\t.\t+\t.\tgene_id \"G\";\n", 1, "without a transcript_id");
    read_fails("bad_strand.gtf",
               "c1\tt\texon\t1\t5\t.\t+\t.\ttranscript_id \"X\";\nc1\tt\texon\t7\t9\t.\t-\t.\ttranscript_id \"X\";\n",
               2, "share contig and strand");
    read_fails("bad_contig.gtf",
               "c1\tt\texon\t1\t5\t.\t+\t.\ttranscript_id \"X\";\nc2\tt\texon\t7\t9\t.\t+\t.\ttranscript_id \"X\";\n",
               2, "share contig and strand");
    read_fails("bad_gene.gtf",
               "c1\tt\texon\t1\t5\t.\t+\t.\tgene_id \"A\"; transcript_id \"X\";\n"
               "c1\tt\texon\t7\t9\t.\t+\t.\tgene_id \"B\"; transcript_id \"X\";\n",
               2, "in gene 'B' here but in gene 'A' at line 1");
    read_fails("bad_nostrand.gtf", "c1\tt\texon\t1\t5\t.\t.\t.\ttranscript_id \"X\";\n", 1, "strand");
    read_fails("bad_overlap.gtf",
               "c1\tt\texon\t1\t10\t.\t+\t.\ttranscript_id \"X\";\nc1\tt\texon\t20\t30\t.\t+\t.\ttranscript_id "
               "\"X\";\nc1\tt\texon\t8\t12\t.\t+\t.\ttranscript_id \"X\";\n",
               3, "overlaps the exon at line 1");
    read_fails("bad_phase.gtf", "c1\tt\tCDS\t1\t5\t.\t+\t4\ttranscript_id \"X\";\n", 1, "phase");
    read_fails("bad_cds_out.gtf",
               "c1\tt\texon\t1\t10\t.\t+\t.\ttranscript_id \"X\";\nc1\tt\tCDS\t5\t15\t.\t+\t0\ttranscript_id \"X\";\n",
               1, "outside its exons");
    read_fails("bad_noexon.gtf", "c1\tt\tstart_codon\t5\t7\t.\t+\t0\ttranscript_id \"X\";\n", 1,
               "transcript 'X' has no exon or CDS features");
    read_fails("bad_empty.gtf", "", 0, "no transcripts");
    read_fails("bad_comments.gtf", "# only\n#comments\n", 2, "no transcripts");
    read_fails("bad_parent.gff3", "##gff-version 3\nc1\ts\texon\t1\t5\t.\t+\t.\tID=e1\n", 2, "Parent");
    /* unbalanced quotes, refused as gffread refuses them (not read as the id 't1;') */
    read_fails("bad_quote.gtf", "c1\tt\texon\t1\t5\t.\t+\t.\tgene_id \"G\"; transcript_id \"t1;\n", 1,
               "attribute 'transcript_id' has an unbalanced '\"'");
    read_fails("bad_quote2.gtf", "c1\tt\texon\t1\t5\t.\t+\t.\tgene_id \"G; transcript_id \"t1\";\n", 1,
               "attribute 'gene_id' has an unbalanced");
    read_fails("bad_quote3.gtf",
               "c1\tt\texon\t1\t5\t.\t+\t.\ttranscript_id \"t1\";\nc1\tt\texon\t7\t9\t.\t+\t.\ttranscript_id "
               "\"t1\"; note a\"b;\n", 2, "attribute 'note' has an unbalanced");
    /* GFF3 escapes are decoded; a decoded tab or newline cannot go into any output */
    read_fails("bad_tab_id.gff3", "##gff-version 3\nc1\ts\tmRNA\t1\t9\t.\t+\t.\tID=t%091\n"
               "c1\ts\texon\t1\t9\t.\t+\t.\tParent=t%091\n", 2,
               "transcript id 't\\x091' holds a control character (byte 0x09, from a GFF3 %-escape)");
    read_fails("bad_nl_gene.gff3", "##gff-version 3\nc1\ts\tgene\t1\t9\t.\t+\t.\tID=g1;Name=a%0Ab\n"
               "c1\ts\tmRNA\t1\t9\t.\t+\t.\tID=t1;Parent=g1\nc1\ts\texon\t1\t9\t.\t+\t.\tParent=t1\n", 3,
               "gene name 'a\\x0ab' holds a control character");
}
END_TEST

/* cds_start_NF / cds_end_NF only as values of the tag attribute (GTF: one tag "..." per value, several per line;
 * GFF3: tag=a,b with %-escapes): words in a note, a description or another attribute's value are not tags. They
 * were found anywhere in the attribute column. */
START_TEST(nf_tags_only_from_tag_values)
{
    iso_annotation *a = read_ok("nf_tags.gtf",
        "c1\tt\texon\t1\t30\t.\t+\t.\ttranscript_id \"NOTE\"; note \"not cds_start_NF nor cds_end_NF\"; "
        "tag \"basic\";\n"
        "c1\tt\tCDS\t1\t30\t.\t+\t0\ttranscript_id \"NOTE\"; description \"cds_end_NF\"; tag \"basic\";\n"
        "c1\tt\texon\t1\t30\t.\t+\t.\ttranscript_id \"TAGS\"; tag \"basic\"; tag \"cds_end_NF\"; "
        "tag \"cds_start_NF\";\n"
        "c1\tt\tCDS\t1\t30\t.\t+\t0\ttranscript_id \"TAGS\"; tag \"basic\"; tag \"cds_end_NF\"; "
        "tag \"cds_start_NF\";\n"
        "c1\tt\texon\t1\t30\t.\t+\t.\ttranscript_id \"LONGER\"; tag \"cds_start_NF_like\";\n"
        "c1\tt\tCDS\t1\t30\t.\t+\t0\ttranscript_id \"LONGER\"; tag \"xcds_end_NF\";\n");
    ck_assert_uint_eq(a->tx[0].flags, ISO_TX_CODING);
    ck_assert_uint_eq(a->tx[1].flags, ISO_TX_CODING | ISO_TX_NO_START_CODON | ISO_TX_NO_STOP_CODON);
    ck_assert_uint_eq(a->tx[2].flags, ISO_TX_CODING);
    iso_annotation_free(a);
    a = read_ok("nf_tags.gff3",
        "##gff-version 3\n"
        "c1\ts\tmRNA\t1\t30\t.\t+\t.\tID=N;Note=cds_start_NF%3B cds_end_NF;tag=basic\n"
        "c1\ts\tCDS\t1\t30\t.\t+\t0\tParent=N\n"
        "c1\ts\tmRNA\t1\t30\t.\t+\t.\tID=T;tag=basic,cds_end_NF,Ensembl_canonical\n"
        "c1\ts\tCDS\t1\t30\t.\t+\t0\tParent=T\n"
        "c1\ts\tmRNA\t1\t30\t.\t+\t.\tID=E;tag=cds_start%5FNF\n"
        "c1\ts\tCDS\t1\t30\t.\t+\t0\tParent=E\n");
    ck_assert_uint_eq(a->tx[0].flags, ISO_TX_CODING);
    ck_assert_uint_eq(a->tx[1].flags, ISO_TX_CODING | ISO_TX_NO_STOP_CODON);
    ck_assert_uint_eq(a->tx[2].flags, ISO_TX_CODING | ISO_TX_NO_START_CODON);
    iso_annotation_free(a);
}
END_TEST

/* The genetic code: a transl_table on the CDS lines (RefSeq GFF3; GTF alike), else 2 on a contig named chrM, MT or M
 * (as the annotation or, after aliases, the FASTA names it), else 1; a code not translated, or two codes for one
 * transcript, are refused at their line. */
START_TEST(genetic_code_of_transcripts)
{
    iso_annotation *a = read_ok("codes.gff3",
        "##gff-version 3\n"
        "NC_012920.1\tRefSeq\tgene\t1\t30\t.\t+\t.\tID=gene-ND1;gene_biotype=protein_coding\n"
        "NC_012920.1\tRefSeq\tCDS\t1\t30\t.\t+\t0\tID=cds-1;Parent=gene-ND1;transl_table=2\n"
        "chrM\tt\tmRNA\t1\t30\t.\t+\t.\tID=M1\n"
        "chrM\tt\tCDS\t1\t30\t.\t+\t0\tParent=M1\n"
        "MT\tt\tmRNA\t1\t30\t.\t+\t.\tID=M2\n"
        "MT\tt\tCDS\t1\t30\t.\t+\t0\tParent=M2;transl_table=1\n"
        "c1\tt\tmRNA\t1\t30\t.\t+\t.\tID=B\n"
        "c1\tt\tCDS\t1\t30\t.\t+\t0\tParent=B;transl_table=11\n"
        "c1\tt\tmRNA\t1\t30\t.\t+\t.\tID=N\n"
        "c1\tt\tCDS\t1\t30\t.\t+\t0\tParent=N\n");
    static const int want[] = {2, 2, 1, 11, 1};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(a->tx[i].transl_table == want[i], "%s: %d", a->tx[i].transcript_id, a->tx[i].transl_table);
    iso_annotation_free(a);
    read_fails("bad_table.gff3", "##gff-version 3\nc1\tt\tmRNA\t1\t30\t.\t+\t.\tID=X\n"
               "c1\tt\tCDS\t1\t30\t.\t+\t0\tParent=X;transl_table=99\n", 3, "transl_table '99'");
    /* NCBI's table 27 (Karyorelict): TGA is Trp or a stop by its place in the gene, which no codon table tells */
    read_fails("ambiguous_table.gff3", "##gff-version 3\nc1\tt\tmRNA\t1\t30\t.\t+\t.\tID=X\n"
               "c1\tt\tCDS\t1\t30\t.\t+\t0\tParent=X;transl_table=27\n", 3, "27, 28 and 31 read a stop codon");
    read_fails("bad_tables.gtf", "c1\tt\tCDS\t1\t9\t.\t+\t0\ttranscript_id \"X\"; transl_table \"2\";\n"
               "c1\tt\tCDS\t20\t29\t.\t+\t0\ttranscript_id \"X\"; transl_table \"1\";\n", 2,
               "transl_table 1 differs from the transl_table 2 at line 1");
}
END_TEST

START_TEST(gff3_escapes_and_quoted_gtf_values)
{
    iso_annotation *a = read_ok("esc.gff3", "##gff-version 3\n"
                                            "c1\ts\tgene\t1\t9\t.\t+\t.\tID=g%3B1;Name=A%2CB%25\n"
                                            "c1\ts\tmRNA\t1\t9\t.\t+\t.\tID=t%3D1;Parent=g%3B1\n"
                                            "c1\ts\texon\t1\t9\t.\t+\t.\tParent=t%3D1,t%2C2\n"
                                            "c1\ts\tmRNA\t1\t9\t.\t+\t.\tID=t%2C2;Parent=g%3B1\n");
    ck_assert_int_eq(a->n, 2);
    ck_assert_str_eq(a->tx[0].transcript_id, "t=1");
    ck_assert_str_eq(a->tx[0].gene_id, "g;1");
    ck_assert_str_eq(a->tx[0].gene_name, "A,B%");
    ck_assert_str_eq(a->tx[1].transcript_id, "t,2");
    iso_annotation_free(a);
    /* quotes closed: a ';' inside a quoted value stays in it, as gffread reads it */
    a = read_ok("quoted.gtf", "c1\tt\texon\t1\t5\t.\t+\t.\tgene_id \"G\"; transcript_id \"t1\" ; note \"x;y\";\n");
    ck_assert_str_eq(a->tx[0].transcript_id, "t1");
    iso_annotation_free(a);
}
END_TEST

START_TEST(truncated_gzip_annotation)
{
    char text[30000];
    size_t at = 0;
    for (int i = 0; at + 100 < sizeof text; i++)
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "c1\tt\texon\t%d\t%d\t.\t+\t.\ttranscript_id \"T%d\";\n", i * 10 + 1, i * 10 + 5, i);
    iso_annotation *a = NULL;
    ck_assert_int_lt(iso_annotation_read(test_gzip_file("ann_trunc.gtf.gz", text, 3000), NULL, &a), 0);
    ck_assert_ptr_null(a);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "ann_trunc.gtf.gz:"));
}
END_TEST

START_TEST(chrom_alias_and_contig_check)
{
    iso_fasta *fa = iso_fasta_open(test_file("ann_contigs.fa", ">20\nACGTACGTAC\n>MT\nACGT\n"));
    ck_assert_ptr_nonnull(fa);
    char gtf[1024];
    snprintf(gtf, sizeof gtf, "%s", test_file("ann_chr.gtf", "chr20\tt\texon\t1\t5\t.\t+\t.\ttranscript_id \"X\";\n"
                                                             "chrM\tt\texon\t1\t3\t.\t+\t.\ttranscript_id \"M\";\n"));
    iso_annotation *a;
    ck_assert_int_eq(iso_annotation_read(gtf, NULL, &a), ISO_OK);
    ck_assert_int_eq(iso_annotation_check_contigs(a, fa), ISO_ENOTFOUND);
    ck_assert_msg(strstr(iso_last_error(), "'chr20', 'chrM'") &&
                      strstr(iso_last_error(), "uses 'chr20', FASTA has '20'") &&
                      strstr(iso_last_error(), "give contig aliases (UCSC chromAlias format") &&
                      !strstr(iso_last_error(), "--"), /* the library names no option of the command line */
                  "%s", iso_last_error());
    iso_annotation_free(a);

    iso_chrom_alias *al;
    ck_assert_int_eq(iso_chrom_alias_load(test_file("ann_alias.txt", "# ucsc\tensembl\n20\tchr20\tNC_000020.10\r\n"
                                                                     "MT\tchrM\n"),
                                          &al),
                     ISO_OK);
    ck_assert_str_eq(iso_chrom_alias_map(al, "NC_000020.10"), "20");
    ck_assert_str_eq(iso_chrom_alias_map(al, "chrM"), "MT");
    ck_assert_str_eq(iso_chrom_alias_map(al, "chr5"), "chr5");
    ck_assert_msg(iso_annotation_read(gtf, al, &a) == ISO_OK, "%s", iso_last_error());
    ck_assert_str_eq(a->tx[0].chrom, "20");
    ck_assert_int_eq(iso_annotation_check_contigs(a, fa), ISO_OK);
    iso_annotation_free(a);
    /* contig 20 has 10 bp: an exon ending at 11 is past it */
    snprintf(gtf, sizeof gtf, "%s", test_file("ann_past.gtf", "20\tt\texon\t1\t5\t.\t+\t.\ttranscript_id \"X\";\n"
                                                              "20\tt\texon\t8\t11\t.\t+\t.\ttranscript_id \"Y\";\n"));
    ck_assert_int_eq(iso_annotation_read(gtf, al, &a), ISO_OK);
    ck_assert_int_eq(iso_annotation_check_contigs(a, fa), ISO_EFORMAT);
    ck_assert_msg(strstr(iso_last_error(), "ann_past.gtf:2: transcript 'Y' ends at 20:11, past the contig's end (10 bp)"),
                  "%s", iso_last_error());
    iso_annotation_free(a);
    iso_chrom_alias_free(al);
    iso_fasta_close(fa);

    ck_assert_int_eq(iso_chrom_alias_load(test_file("ann_alias_bad.txt", "20 chr20\n"), &al), ISO_EFORMAT);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "ann_alias_bad.txt:1:"));
    /* one alias for two sequences is refused; the same pair twice is not a conflict */
    ck_assert_int_eq(iso_chrom_alias_load(test_file("ann_alias_twice.txt", "20\tchr20\nX\tchrX\n21\tchrX\n"), &al),
                     ISO_EFORMAT);
    ck_assert_msg(strstr(iso_last_error(), "ann_alias_twice.txt:3: 'chrX' is an alias of '21' here but of 'X' at line 2"),
                  "%s", iso_last_error());
    ck_assert_int_eq(iso_chrom_alias_load(test_file("ann_alias_same.txt", "20\tchr20\n20\tchr20\tNC\n"), &al), ISO_OK);
    ck_assert_str_eq(iso_chrom_alias_map(al, "NC"), "20");
    iso_chrom_alias_free(al);
}
END_TEST

/* The GFF3 written by gffread from the GTF must give the same transcript models. */
START_TEST(test_data_gtf_and_gff3_agree)
{
    iso_annotation *g, *f;
    ck_assert_int_eq(iso_annotation_read(ISO_TEST_DATA "/annotation.gtf", NULL, &g), ISO_OK);
    ck_assert_int_eq(iso_annotation_read(ISO_TEST_DATA "/annotation.gff3", NULL, &f), ISO_OK);
    ck_assert_uint_eq(g->n, 7);
    ck_assert_uint_eq(f->n, g->n);
    for (size_t i = 0; i < g->n; i++) {
        const iso_transcript *a = &g->tx[i];
        long j = iso_annotation_find(f, a->transcript_id);
        ck_assert_int_ge(j, 0);
        const iso_transcript *b = &f->tx[j];
        ck_assert_str_eq(a->gene_name, "BCAS1");
        ck_assert_str_eq(b->gene_name, "BCAS1");
        ck_assert_int_eq(a->n_exons, b->n_exons);
        ck_assert_int_eq(a->n_cds, b->n_cds);
        ck_assert_mem_eq(a->exons, b->exons, (size_t)a->n_exons * sizeof *a->exons);
        ck_assert_mem_eq(a->cds, b->cds, (size_t)a->n_cds * sizeof *a->cds);
        ck_assert_int_eq(a->tss, b->tss);
        ck_assert_uint_eq(a->flags, ISO_TX_CODING);
        ck_assert_uint_eq(b->flags, ISO_TX_CODING);
    }
    iso_annotation_free(g);
    iso_annotation_free(f);
}
END_TEST

/* Ensembl's own GTF and GFF3 of one genome: GTF CDS lines exclude the stop codon (given as stop_codon), GFF3
 * CDS lines include it, so the reader must give identical models from both. */
START_TEST(ensembl_gtf_and_gff3_agree)
{
    iso_annotation *g, *f;
    ck_assert_int_eq(iso_annotation_read(ISO_TEST_DATA "/Devosia_geojensis.ASM96941v1.32.gtf.gz", NULL, &g), ISO_OK);
    ck_assert_int_eq(iso_annotation_read(ISO_TEST_DATA "/Devosia_geojensis.ASM96941v1.32.gff3.gz", NULL, &f), ISO_OK);
    ck_assert_uint_eq(g->n, 4045);
    ck_assert_uint_eq(f->n, g->n);
    size_t coding = 0, no_stop = 0;
    for (size_t i = 0; i < g->n; i++) {
        const iso_transcript *a = &g->tx[i];
        long j = iso_annotation_find(f, a->transcript_id);
        ck_assert_msg(j >= 0, "%s missing from the GFF3", a->transcript_id);
        const iso_transcript *b = &f->tx[j];
        ck_assert_str_eq(a->gene_id, b->gene_id);
        ck_assert_str_eq(a->chrom, b->chrom);
        ck_assert_int_eq(a->strand, b->strand);
        ck_assert_int_eq(a->n_exons, b->n_exons);
        ck_assert_mem_eq(a->exons, b->exons, (size_t)a->n_exons * sizeof *a->exons);
        ck_assert_int_eq(a->n_cds, b->n_cds);
        ck_assert_msg(!memcmp(a->cds, b->cds, (size_t)a->n_cds * sizeof *a->cds), "CDS of %s", a->transcript_id);
        ck_assert_int_eq(a->cds_phase, b->cds_phase);
        ck_assert_int_eq(a->tss, b->tss);
        coding += a->n_cds > 0;
        no_stop += (a->flags & ISO_TX_NO_STOP_CODON) != 0;
    }
    ck_assert_uint_eq(coding, 3996);
    ck_assert_uint_eq(no_stop, 3996 - 3965); /* 3965 stop_codon lines, none split */
    iso_annotation_free(g);
    iso_annotation_free(f);
}
END_TEST

/* iso_annotation_from_transcripts checks the CDS as the GTF reader would leave it: a negative phase was accepted and
 * translation read before the CDS buffer. */
START_TEST(transcripts_from_a_program_are_checked)
{
    iso_interval ex[2] = {{100, 200}, {300, 400}}, cds[2] = {{150, 200}, {300, 350}};
    iso_transcript t = {.transcript_id = "T", .chrom = "c1", .strand = '+', .exons = ex, .n_exons = 2, .cds = cds,
                        .n_cds = 2};
    iso_annotation *a = NULL;
    ck_assert_msg(iso_annotation_from_transcripts("prog", &t, 1, &a) == ISO_OK, "%s", iso_last_error());
    ck_assert(a->tx[0].flags & ISO_TX_CODING);
    iso_annotation_free(a);
    iso_interval unsorted[2] = {{300, 350}, {150, 200}}, outside[1] = {{50, 120}};
    struct {
        int phase, n_cds;
        iso_interval *cds;
    } bad[] = {{-3, 2, cds}, {3, 2, cds}, {0, 2, NULL}, {0, 2, unsorted}, {0, 1, outside}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        iso_transcript u = t;
        u.cds_phase = bad[i].phase, u.n_cds = bad[i].n_cds, u.cds = bad[i].cds;
        ck_assert_msg(iso_annotation_from_transcripts("prog", &u, 1, &a) == ISO_EINVAL, "case %zu accepted", i);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("annotation");
    TCase *tc = tcase_create("annotation");
    tcase_add_test(tc, gencode_minus_strand);
    tcase_add_test(tc, versions_before_par_suffix);
    tcase_add_test(tc, stop_codon_split_across_exons);
    tcase_add_test(tc, ensembl_biotype_tags_and_phase);
    tcase_add_test(tc, refseq_igenomes);
    tcase_add_test(tc, selenocysteine);
    tcase_add_test(tc, gff3_with_genes_and_shared_exons);
    tcase_add_test(tc, gff3_gene_and_transcript_types);
    tcase_add_test(tc, gff3_refseq_conventions);
    tcase_add_test(tc, gff3_transcript_with_two_genes);
    tcase_add_test(tc, gff3_with_fasta_section);
    tcase_add_test(tc, gff3_shared_transcript_id);
    tcase_add_test(tc, crlf_and_gzip);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, nf_tags_only_from_tag_values);
    tcase_add_test(tc, genetic_code_of_transcripts);
    tcase_add_test(tc, gff3_ribosomal_slippage);
    tcase_add_test(tc, gff3_escapes_and_quoted_gtf_values);
    tcase_add_test(tc, truncated_gzip_annotation);
    tcase_add_test(tc, chrom_alias_and_contig_check);
    tcase_add_test(tc, test_data_gtf_and_gff3_agree);
    tcase_add_test(tc, ensembl_gtf_and_gff3_agree);
    tcase_add_test(tc, transcripts_from_a_program_are_checked);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
