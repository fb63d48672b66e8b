/* Fuzzes the VCF reader (records, alleles, REF checks, genotypes) and what is done with each allele it accepts:
 * the edited FASTA view, the edited transcript (CDS read again) and its consequence, on a BCAS1 isoform of
 * test-data, on both strands' logic (the isoform is minus-strand; alleles anywhere on the slice). */
#include <string.h>

#include "fuzz_common.h"
#include "isoformer/variants.h"

static iso_fasta *fa;
static iso_annotation *ann;
static iso_chrom_alias *alias;

static void apply(const iso_vcf_allele *a, const char *chrom)
{
    const iso_transcript *tx = &ann->tx[0];
    char *ref_protein = NULL, *rna = NULL, *protein = NULL;
    unsigned flags, alt_flags;
    iso_fasta *view = strcmp(chrom, tx->chrom) ? NULL : iso_fasta_edited(fa, chrom, &a->edit, 1);
    iso_alt_transcript alt;
    if (view && iso_extract_protein(fa, tx, &ref_protein, &flags) == ISO_OK &&
        iso_variant_transcript(view, tx, flags, &a->edit, 1, &alt) == ISO_OK) {
        if (alt.tx.n_exons && iso_extract_rna(view, &alt.tx, &rna) == ISO_OK)
            (void)!iso_extract_protein(view, &alt.tx, &protein, &alt_flags);
        iso_consequence c;
        iso_consequence_classify(tx, flags, &a->edit, 1, &alt, ref_protein, protein ? protein : "", &c);
        iso_alt_transcript_free(&alt);
    }
    free(ref_protein), free(rna), free(protein);
    iso_fasta_close(view);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fa) {
        fa = iso_fasta_open(ISO_TEST_DATA "/genome.fa.gz");
        if (iso_chrom_alias_load(ISO_TEST_DATA "/chromAlias.txt", &alias) != ISO_OK ||
            iso_annotation_read(ISO_TEST_DATA "/annotation.gtf", alias, &ann) != ISO_OK || !fa)
            abort();
    }
    char *path = fuzz_write_temp(data, size, ".vcf");
    if (!path)
        return 0;
    iso_vcf *v;
    if (iso_vcf_open(path, fa, alias, NULL, 0, size % 2 ? "" : NULL, &v) == ISO_OK) {
        iso_vcf_record *r;
        for (int n = 0; n < 64 && iso_vcf_next(v, &r) > 0; n++) {
            for (int i = 0; i < r->n_alt; i++)
                if (!r->alt[i].note && r->alt[i].edit.end - r->alt[i].edit.start < 100000)
                    apply(&r->alt[i], r->chrom);
            iso_vcf_record_free(r);
        }
        iso_vcf_close(v);
    }
    fuzz_remove_temp(path);
    return 0;
}
